// (e) The bridge transport beside the direct one, same run, same machine: pickup in window mode (a
// job committed while a window is open, to the stand-in receiving its runjob request; one job at a
// time, as bench/latency.ts) and claim + dispatch throughput (JOBS no-op jobs, root:CAPACITY, until
// the stand-in took every job). Through the bridge the runner polls every BRIDGE_POLL_MS (1000 by
// default) through the addon's real Python core (tests/serve.py) behind a one-host proxy; direct, it
// LISTENs. Needs python3 with psycopg2 for the bridge half.
import { distribution, hiRes, sleep } from '../dev/stats.ts';
import { type Bridge, bridgeUnavailable, startBridge } from '../test/support/bridge.ts';
import { setWebBaseUrl } from '../test/support/db.ts';
import { createJob, createJobs } from '../test/support/jobs.ts';
import { startOdoo } from '../test/support/odoo.ts';
import { type BenchContext, type Figure, round, spawnRunner } from './common.ts';

const SAMPLES = 60;
const JOBS = 2000;
const CAPACITY = 32;
const TIME_LIMIT_MS = 90_000;

type Transport = 'direct' | 'bridge';

export async function bridgeBench(ctx: BenchContext): Promise<Figure[]> {
  const missing = bridgeUnavailable() ?? (process.env.QJR_SKIP_BRIDGE ? 'QJR_SKIP_BRIDGE set' : null);
  const transports: Transport[] = missing ? ['direct'] : ['direct', 'bridge'];
  if (missing) ctx.log(`bridge: skipped the bridge half: ${missing}`);
  const figures: Figure[] = [];
  for (const transport of transports) figures.push(...(await pickup(ctx, transport)));
  for (const transport of transports) figures.push(...(await throughput(ctx, transport)));
  return figures;
}

/** A database with a stand-in (and, for the bridge, the addon's core and the proxy), and the runner's env. */
async function setup(ctx: BenchContext, name: string, transport: Transport, workers: number) {
  const db = await ctx.database(name);
  const odoo = await startOdoo({ databases: { [db.name]: db.url }, workers, durationMs: 0, latencyMs: 0 });
  let bridge: Bridge | null = null;
  if (transport === 'bridge') {
    bridge = await startBridge(db.url, odoo.url);
    await setWebBaseUrl(db.pool, bridge.url);
  }
  const env: Record<string, string> = bridge
    ? { ODOO_URL: bridge.url, ODOO_BRIDGE_TOKEN: bridge.token }
    : { DATABASE_URL: db.url, ODOO_URL: odoo.url };
  const close = async () => {
    await bridge?.close();
    await odoo.close();
    await db.close();
  };
  return { db, odoo, env, close };
}

async function pickup(ctx: BenchContext, transport: Transport): Promise<Figure[]> {
  const { db, odoo, env, close } = await setup(ctx, `bench_bridge_pickup_${transport}`, transport, 8);
  const arrivals = new Map<string, number>();
  odoo.events.on('request', (record: { uuid: string | null }) => {
    if (record.uuid && !arrivals.has(record.uuid)) arrivals.set(record.uuid, hiRes());
  });
  const runner = spawnRunner({ env: { ...env, ODOO_QUEUE_JOB_CHANNELS: 'root:4' }, windowSeconds: 150 });
  const latencies: number[] = [];
  try {
    await runner.started;
    await sleep(1500);
    const until = hiRes() + TIME_LIMIT_MS;
    for (let i = 0; i < SAMPLES && hiRes() < until; i++) {
      const job = await createJob(db.pool, { channel: 'root' });
      const committed = hiRes();
      await odoo.waitFor(() => arrivals.has(job.uuid), 10_000, `job ${i + 1} sent`);
      latencies.push(arrivals.get(job.uuid)! - committed);
      // A random phase against the poll, so samples cover the whole poll period.
      await sleep(50 + Math.random() * 400);
    }
  } finally {
    runner.stop();
    await runner.result.catch(() => null);
    await close();
  }
  const d = distribution(latencies);
  ctx.log(`bridge bench, ${transport}: pickup ${d.n} samples p50 ${d.p50} p99 ${d.p99} max ${d.max} ms`);
  const bridge = transport === 'bridge';
  const note = `n=${d.n}; commit → runjob request at the stand-in; ${bridge ? 'polling every 1000 ms (BRIDGE_POLL_MS default) through the addon core' : 'LISTEN'}`;
  return [
    {
      bench: 'bridge',
      name: `pickup p50, ${transport}`,
      value: d.p50,
      unit: 'ms',
      ...(bridge ? { target: { value: 1500, kind: 'max' as const } } : {}),
      note,
    },
    {
      bench: 'bridge',
      name: `pickup p99, ${transport}`,
      value: d.p99,
      unit: 'ms',
      ...(bridge ? { target: { value: 3000, kind: 'max' as const } } : {}),
      note,
    },
  ];
}

async function throughput(ctx: BenchContext, transport: Transport): Promise<Figure[]> {
  const { db, odoo, env, close } = await setup(ctx, `bench_bridge_rate_${transport}`, transport, CAPACITY);
  await createJobs(db.pool, JOBS, { channel: ['root', 'root.a', 'root.b'] });
  await db.pool.query('VACUUM ANALYZE queue_job');
  let last = 0;
  odoo.events.on('request', () => {
    last = hiRes();
  });
  const runner = spawnRunner({
    env: { ...env, ODOO_QUEUE_JOB_CHANNELS: `root:${CAPACITY}` },
    windowSeconds: Math.ceil(TIME_LIMIT_MS / 1000) + 10,
  });
  let start = 0;
  let taken = 0;
  try {
    start = await runner.started;
    await odoo.waitFor(() => odoo.counts().taken >= JOBS, TIME_LIMIT_MS).catch(() => {});
    taken = odoo.counts().taken;
  } finally {
    runner.stop();
  }
  const result = await runner.result.catch(() => null);
  await close();
  const seconds = (last - start) / 1000;
  const rate = round(taken / seconds, 0);
  const passes = result?.ticks.reduce((n, t) => n + t.passes, 0) ?? 0;
  ctx.log(
    `bridge bench, ${transport}: ${taken}/${JOBS} jobs in ${round(seconds, 2)} s = ${rate} jobs/s, ${passes} passes`,
  );
  return [
    {
      bench: 'bridge',
      name: `claim+dispatch throughput, ${transport} (root:${CAPACITY}, no-work stand-in)`,
      value: rate,
      unit: 'jobs/s',
      note: `${taken} jobs in ${passes} passes${transport === 'bridge' ? ': at most root free room per 1 s poll, plus an immediate pass when one hit its limit' : ''}`,
    },
  ];
}
