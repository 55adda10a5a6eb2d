// (b) Commit-to-runjob latency in window mode: a tick window is open in the runner process; jobs are
// inserted one by one, each its own commit, and the time from the commit to the stand-in receiving the
// runjob request is measured. One job at a time (the next is inserted once the previous has run, after
// a random 5-25 ms pause), so each sample is the runner's reaction, not a queue.
import pg from 'pg';
import { distribution, hiRes, median, sleep } from '../dev/stats.ts';
import { createJob } from '../test/support/jobs.ts';
import { startOdoo } from '../test/support/odoo.ts';
import { type BenchContext, type Figure, round, spawnRunner } from './common.ts';

const SAMPLES = 300;
const TIME_LIMIT_MS = 60_000;

export async function latencyBench(ctx: BenchContext): Promise<Figure[]> {
  const db = await ctx.database('bench_latency');
  const odoo = await startOdoo({ databases: { [db.name]: db.url }, workers: 8 });
  // A second listener, beside the runner's, shows how much of the latency is NOTIFY delivery itself.
  const listener = new pg.Client({ connectionString: db.url, application_name: 'qjr-bench' });
  await listener.connect();
  await listener.query('LISTEN queue_job');
  const notified = new Map<string, number>();
  listener.on('notification', (message) => {
    if (message.payload && !notified.has(message.payload)) notified.set(message.payload, hiRes());
  });
  const arrivals = new Map<string, number>();
  odoo.events.on('request', (record: { uuid: string | null }) => {
    if (record.uuid && !arrivals.has(record.uuid)) arrivals.set(record.uuid, hiRes());
  });

  const runner = spawnRunner({
    env: { DATABASE_URL: db.url, ODOO_URL: odoo.url, ODOO_QUEUE_JOB_CHANNELS: 'root:4' },
    windowSeconds: 120,
  });
  const latencies: number[] = [];
  const fromSend: number[] = [];
  const notify: number[] = [];
  try {
    await runner.started;
    await sleep(1000); // past the first pass, sweep and LISTEN: the window is idle and listening
    const until = hiRes() + TIME_LIMIT_MS;
    for (let i = 0; i < SAMPLES && hiRes() < until; i++) {
      const sent = hiRes();
      const job = await createJob(db.pool, { channel: 'root' });
      const committed = hiRes();
      await odoo.waitFor(() => odoo.counts().done >= i + 1, 5_000, `job ${i + 1} done`);
      const arrived = arrivals.get(job.uuid)!;
      latencies.push(arrived - committed);
      fromSend.push(arrived - sent);
      const heard = notified.get(job.uuid);
      if (heard !== undefined) notify.push(heard - committed);
      await sleep(5 + Math.random() * 20);
    }
  } finally {
    runner.stop();
    await runner.result.catch(() => null);
    await listener.end().catch(() => {});
    await odoo.close();
    await db.close();
  }
  const d = distribution(latencies);
  const s = distribution(fromSend);
  ctx.log(
    `latency: ${d.n} samples; commit→request p50 ${d.p50} p95 ${d.p95} p99 ${d.p99} max ${d.max} ms; ` +
      `INSERT sent→request p50 ${s.p50} p99 ${s.p99} ms; commit→NOTIFY at another listener p50 ${round(median(notify), 2)} ms`,
  );
  const note = `n=${d.n}; from the INSERT's commit acknowledged to the inserting client to the stand-in receiving the runjob request`;
  return [
    {
      bench: 'latency',
      name: 'pickup p50, window mode (commit → runjob)',
      value: d.p50,
      unit: 'ms',
      target: { value: 3.6, kind: 'max' },
      note,
    },
    {
      bench: 'latency',
      name: 'pickup p99, window mode (commit → runjob)',
      value: d.p99,
      unit: 'ms',
      target: { value: 10.6, kind: 'max' },
      note,
    },
    { bench: 'latency', name: 'pickup p95 (commit → runjob)', value: d.p95, unit: 'ms' },
    { bench: 'latency', name: 'pickup max (commit → runjob)', value: d.max, unit: 'ms' },
    {
      bench: 'latency',
      name: 'commit ack → NOTIFY at a plain listener, p50',
      value: round(median(notify), 2),
      unit: 'ms',
      note: 'negative: the NOTIFY reaches a listener before the INSERT is acknowledged to its client; the floor any LISTEN-based runner starts from',
    },
  ];
}
