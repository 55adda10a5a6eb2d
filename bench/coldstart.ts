// (d) Cold start and peak RSS: spawn `node bench/tick-child.ts` (a fresh process that imports the tick
// entry, loads the configuration and runs one tick with window 0: sweep, one pass, dispatch, settle) with
// one pending job, and time it from just before spawn() to the end of that tick, as seen by the child's
// clock. Twice: the .ts sources through Node's type stripping, and a tsc build (bench/dist), which is what
// Cloud Run runs. Peak RSS is the child's process.resourceUsage().maxRSS.
import { hiRes, median } from '../dev/stats.ts';
import { createJob } from '../test/support/jobs.ts';
import { startOdoo } from '../test/support/odoo.ts';
import { type BenchContext, buildOnce, type Figure, round, spawnRunner } from './common.ts';

const RUNS = 7;

export async function coldStartBench(ctx: BenchContext): Promise<Figure[]> {
  const built = await buildOnce(ctx);
  const db = await ctx.database('bench_coldstart');
  const odoo = await startOdoo({ databases: { [db.name]: db.url }, workers: 4 });
  const figures: Figure[] = [];
  try {
    for (const entry of built ? (['ts', 'dist'] as const) : (['ts'] as const)) {
      const total: number[] = [];
      const toImported: number[] = [];
      const tickMs: number[] = [];
      const rss: number[] = [];
      // One unmeasured run first: the file system cache, not the runner, would be measured otherwise.
      for (let i = 0; i <= RUNS; i++) {
        const job = await createJob(db.pool, { channel: 'root' });
        const spawnedAt = hiRes();
        const child = spawnRunner({
          env: { DATABASE_URL: db.url, ODOO_URL: odoo.url, ODOO_QUEUE_JOB_CHANNELS: 'root:4' },
          windowSeconds: 0,
          entry,
        });
        const result = await child.result;
        const dispatched = result.ticks[0]?.dispatched ?? 0;
        if (dispatched !== 1) throw new Error(`cold start run dispatched ${dispatched} jobs, expected 1`);
        await odoo.waitFor(() => odoo.takenCount(job.uuid) === 1 && odoo.counts().inFlight === 0, 5_000);
        if (i === 0) continue;
        total.push(result.tickDoneAt - spawnedAt);
        toImported.push(result.importedAt - spawnedAt);
        tickMs.push(result.tickDoneAt - result.tickStartAt);
        rss.push(result.maxRssKb / 1024);
      }
      const label = entry === 'ts' ? '.ts via type stripping' : 'tsc build (dist)';
      ctx.log(
        `${label}: spawn → first pass done median ${round(median(total))} ms ` +
          `(spawn → modules loaded ${round(median(toImported))} ms, tick ${round(median(tickMs))} ms); ` +
          `peak RSS median ${round(median(rss))} MB, max ${round(Math.max(...rss))} MB; runs: ${total.map((t) => round(t, 0)).join(', ')}`,
      );
      figures.push(
        {
          bench: 'coldstart',
          name: `cold start, ${label}`,
          value: round(median(total)),
          unit: 'ms',
          target: { value: 300, kind: 'max' },
          note: `median of ${RUNS}; spawn → modules loaded ${round(median(toImported))} ms, one tick (window 0, 1 job) ${round(median(tickMs))} ms`,
        },
        {
          bench: 'coldstart',
          name: `peak RSS, one tick, ${label}`,
          value: round(Math.max(...rss)),
          unit: 'MB',
          target: { value: 100, kind: 'max' },
          note: `max of ${RUNS} runs (median ${round(median(rss))} MB)`,
        },
      );
    }
  } finally {
    await odoo.close();
    await db.close();
  }
  return figures;
}
