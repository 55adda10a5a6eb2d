// Watches capacity from the rows themselves: enqueued + started per configured channel (sub-channels
// included), sampled every 2 ms while a test runs, keeping each channel's peak.
import type pg from 'pg';
import { expect } from 'vitest';
import { channelTree, parseChannels } from '../../shared/channels.ts';

export function capacityMonitor(pool: Pick<pg.Pool, 'query'>, channels: string) {
  const tree = channelTree(parseChannels(channels));
  const peaks = new Map<string, number>();
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      const { rows } = await pool.query<{ channel: string | null; n: number }>(
        `SELECT channel, count(*)::int AS n FROM queue_job WHERE state IN ('enqueued', 'started') GROUP BY channel`,
      );
      const now = new Map<string, number>();
      for (const row of rows) {
        for (const limit of tree.limits(row.channel)) now.set(limit.name, (now.get(limit.name) ?? 0) + row.n);
      }
      for (const [name, n] of now) peaks.set(name, Math.max(peaks.get(name) ?? 0, n));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  return {
    peaks,
    async stop() {
      stop = true;
      await loop;
    },
  };
}

/** Every channel stayed within its capacity in the rows and in what Odoo (the stand-in) ran. */
export function expectWithinCapacities(
  monitor: { peaks: Map<string, number> },
  odoo: { peakRunning(channel?: string): number },
  capacities: readonly (readonly [string, number])[],
): void {
  for (const [name, capacity] of capacities) {
    expect(monitor.peaks.get(name) ?? 0, `rows in ${name}`).toBeLessThanOrEqual(capacity);
    expect(odoo.peakRunning(name), `running in ${name}`).toBeLessThanOrEqual(capacity);
  }
}
