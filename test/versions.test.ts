// What upstream added or does differently across queue_job 16.0-19.0, against a real PostgreSQL and
// the Odoo stand-in: 18.0's channel options (paused, capacity_default, sequential_default) and the
// candidate read for channels whose short spelling is another channel.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../shared/log.ts';
import { tick } from '../shared/tick.ts';
import { useStandin } from './support/fixture.ts';
import { createJob, createJobs } from './support/jobs.ts';
import { testConfig } from './support/runner.ts';

const fixture = useStandin();

async function tickOnce(channels: string) {
  const summary = await tick(testConfig({ databaseUrl: fixture.db.url, channels }), silentLogger);
  expect(summary.ok).toBe(true);
  return summary.targets[0]!;
}

describe('candidate read: a closed channel whose short spelling is another channel hides nothing', () => {
  it.each([
    // [channels, channel of the running job, channels of the pending jobs that must be read]
    ['root:4,root.root:1', 'root.root', ['root', 'root.x', 'x']],
    ['root:4,root.:1', 'root.', ['', 'root', 'y']],
    ['root:4,root.root.x:1', 'root.root.x', ['root.x', 'x', 'root.x.y']],
  ])('%s with a job running in %j', async (channels, running, pendingIn) => {
    await createJob(fixture.db.pool, { channel: running, state: 'started' });
    const uuids = await createJobs(fixture.db.pool, pendingIn.length, { channel: pendingIn });
    const target = await tickOnce(channels);
    // root has 3 free slots: one job of each of the three other channels
    expect(target.claimed).toBe(3);
    await fixture.odoo.waitFor(() => uuids.every((uuid) => fixture.odoo.takenCount(uuid) === 1));
  });
});
