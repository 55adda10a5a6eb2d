// (f) The seconds between windows (issue 11, item 10): Cloud Scheduler never runs two executions of
// one job at once, so one job every minute with a 55 s window leaves a gap each minute. This simulates
// the schedule locally, time scaled down 10× (a "minute" is 6 s): before, one job every minute with a
// 55 s window; after, two jobs every two minutes, one minute apart, with 70 s windows. Each execution
// starts 3 s ("cold start", scaled) after its schedule time and is tick() in this process. Jobs are
// committed at random times; pickup = commit → runjob request at the stand-in, for all jobs and for
// those committed while no window was open.
import { distribution, hiRes, sleep } from '../dev/stats.ts';
import { loadConfig } from '../shared/config.ts';
import { silentLogger } from '../shared/log.ts';
import { tick } from '../shared/tick.ts';
import { createJob } from '../test/support/jobs.ts';
import { startOdoo } from '../test/support/odoo.ts';
import type { BenchContext, Figure } from './common.ts';

const SCALE = 0.1;
const MINUTE_MS = 60_000 * SCALE;
const START_DELAY_MS = 3000 * SCALE;
const RUN_MS = 8 * MINUTE_MS;

interface Schedule {
  name: string;
  /** Scheduler jobs: first start offset and period, in (scaled) ms. */
  jobs: { offsetMs: number; periodMs: number }[];
  windowSeconds: number;
}

const SCHEDULES: Schedule[] = [
  {
    name: 'before: one job every minute, 55 s window',
    jobs: [{ offsetMs: 0, periodMs: MINUTE_MS }],
    windowSeconds: 55,
  },
  {
    name: 'after: two jobs every two minutes, one minute apart, 70 s windows',
    jobs: [
      { offsetMs: 0, periodMs: 2 * MINUTE_MS },
      { offsetMs: MINUTE_MS, periodMs: 2 * MINUTE_MS },
    ],
    windowSeconds: 70,
  },
];

export async function gapBench(ctx: BenchContext): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const schedule of SCHEDULES) figures.push(...(await run(ctx, schedule)));
  return figures;
}

async function run(ctx: BenchContext, schedule: Schedule): Promise<Figure[]> {
  const db = await ctx.database('bench_gap');
  const odoo = await startOdoo({ databases: { [db.name]: db.url }, workers: 8, durationMs: 0, latencyMs: 0 });
  const config = {
    ...loadConfig({
      DATABASE_URL: db.url,
      ODOO_URL: odoo.url,
      ODOO_DB: db.name,
      ODOO_QUEUE_JOB_CHANNELS: 'root:4',
    }),
    windowSeconds: schedule.windowSeconds * SCALE,
  };
  const arrivals = new Map<string, number>();
  odoo.events.on('request', (record: { uuid: string | null }) => {
    if (record.uuid && !arrivals.has(record.uuid)) arrivals.set(record.uuid, hiRes());
  });
  let open = 0;
  const started = hiRes();
  const until = started + RUN_MS;
  // One Scheduler job: an execution at each schedule time, never two at once (a late one is delayed).
  const scheduler = async ({ offsetMs, periodMs }: { offsetMs: number; periodMs: number }) => {
    for (let at = started + offsetMs; at < until; at += periodMs) {
      await sleep(Math.max(0, at - hiRes()) + START_DELAY_MS);
      open += 1;
      try {
        await tick(config, silentLogger);
      } finally {
        open -= 1;
      }
    }
  };
  const jobs: { uuid: string; committed: number; inGap: boolean }[] = [];
  const schedulers = Promise.all(schedule.jobs.map(scheduler));
  while (hiRes() < until - MINUTE_MS / 2) {
    await sleep(50 + Math.random() * 250);
    const inGap = open === 0;
    const job = await createJob(db.pool, { channel: 'root' });
    jobs.push({ uuid: job.uuid, committed: hiRes(), inGap });
  }
  await schedulers;
  await odoo.close();
  await db.close();
  // In the simulation's own milliseconds: a gap's wait is 10× longer at real scale, a pickup inside a
  // window (LISTEN, milliseconds) is not.
  const pickups = (list: typeof jobs) =>
    list.map((job) => (arrivals.get(job.uuid) ?? Number.NaN) - job.committed);
  const all = distribution(pickups(jobs));
  const gap = distribution(pickups(jobs.filter((job) => job.inGap)));
  ctx.log(
    `${schedule.name}: ${all.n} jobs, pickup p50 ${all.p50} ms, p99 ${all.p99} ms, max ${all.max} ms (simulation 10× faster); ` +
      `${gap.n} committed with no window open: p50 ${gap.p50} ms, max ${gap.max} ms`,
  );
  const short = schedule.name.split(':')[0]!;
  return [
    {
      bench: 'gap',
      name: `${short}: pickup p99, all jobs`,
      value: all.p99,
      unit: 'ms',
      note: `${schedule.name}; time scaled 10× down`,
    },
    { bench: 'gap', name: `${short}: pickup max, all jobs`, value: all.max, unit: 'ms' },
    { bench: 'gap', name: `${short}: jobs committed with no window open`, value: gap.n, unit: 'jobs' },
    {
      bench: 'gap',
      name: `${short}: pickup max, committed with no window open`,
      value: Number.isNaN(gap.max) ? 0 : gap.max,
      unit: 'ms',
    },
  ];
}
