// (e) Many targets in one tick (issue 11, item 9): 1,000 and 2,000 targets on one PostgreSQL server,
// most idle (spread over a few empty databases), 10 busy (5 jobs each, their own databases, the
// stand-in), 5 % refusing connections (127.0.0.1:1). One tick with window 0 in the runner child, as
// production runs it. Figures: wall time of the tick, the child's peak RSS, the most runner connections
// pg_stat_activity showed at once (sampled every 10 ms), and the idle or busy targets that failed
// (for example "too many clients"). The limits are the defaults unless BENCH_FLEET_ENV adds settings
// (e.g. BENCH_FLEET_ENV='TICK_TARGET_CONCURRENCY=16 MAX_CONNECTIONS_PER_SERVER=20').
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestDatabase } from '../test/support/db.ts';
import { createJobs } from '../test/support/jobs.ts';
import { startOdoo } from '../test/support/odoo.ts';
import { type BenchContext, buildOnce, type Figure, round, spawnRunner } from './common.ts';

const SIZES = [1000, 2000];
const IDLE_DATABASES = 4;
const BUSY = 10;
const JOBS_PER_BUSY = 5;
const REFUSING_SHARE = 0.05;

function extraEnv(): Record<string, string> {
  const text = process.env.BENCH_FLEET_ENV?.trim();
  if (!text) return {};
  return Object.fromEntries(text.split(/\s+/).map((pair) => pair.split('=', 2) as [string, string]));
}

export async function fleetBench(ctx: BenchContext): Promise<Figure[]> {
  const entry = (await buildOnce(ctx)) ? 'dist' : 'ts';
  const idle = await Promise.all(
    Array.from({ length: IDLE_DATABASES }, (_, i) => ctx.database(`bench_fleet_idle${i}`, 1)),
  );
  const busy = await Promise.all(
    Array.from({ length: BUSY }, (_, i) => ctx.database(`bench_fleet_busy${i}`, 2)),
  );
  const odoo = await startOdoo({
    databases: Object.fromEntries(busy.map((db) => [db.name, db.url])),
    workers: 16,
    durationMs: 0,
    latencyMs: 0,
  });
  const dir = mkdtempSync(join(tmpdir(), 'bench-fleet-'));
  const figures: Figure[] = [];
  try {
    for (const size of SIZES)
      figures.push(...(await run(ctx, size, { idle, busy, odooUrl: odoo.url, dir, entry })));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await odoo.close();
    await Promise.all([...idle, ...busy].map((db) => db.close()));
  }
  return figures;
}

interface Setup {
  idle: TestDatabase[];
  busy: TestDatabase[];
  odooUrl: string;
  dir: string;
  entry: 'ts' | 'dist';
}

async function run(ctx: BenchContext, size: number, setup: Setup): Promise<Figure[]> {
  for (const db of setup.busy) {
    await db.pool.query('DELETE FROM queue_job');
    await createJobs(db.pool, JOBS_PER_BUSY);
  }
  const refusing = Math.round(size * REFUSING_SHARE);
  const idleCount = size - refusing - BUSY;
  const target = (name: string, db: TestDatabase) => ({
    name,
    databaseUrl: db.url,
    db: db.name,
    odooUrl: setup.odooUrl,
    channels: 'root:2',
  });
  const targets = [
    ...setup.busy.map((db, i) => target(`busy-${i}`, db)),
    ...Array.from({ length: idleCount }, (_, i) => target(`idle-${i}`, setup.idle[i % setup.idle.length]!)),
    ...Array.from({ length: refusing }, (_, i) => ({
      name: `refusing-${i}`,
      databaseUrl: `postgres://nobody:pw-${i}@127.0.0.1:1/none`,
      odooUrl: setup.odooUrl,
    })),
  ];
  const file = join(setup.dir, `targets-${size}.json`);
  writeFileSync(file, JSON.stringify(targets));

  const sampler = new pg.Client({ connectionString: ctx.server.adminUrl, application_name: 'bench-sampler' });
  await sampler.connect();
  let peakConnections = 0;
  let sampling = true;
  const sampling_ = (async () => {
    while (sampling) {
      const { rows } = await sampler.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'queue-job-runner'",
      );
      peakConnections = Math.max(peakConnections, rows[0]!.n);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  const env = extraEnv();
  const child = spawnRunner({
    env: { ODOO_QUEUE_JOB_CHANNELS: 'root:2', ...env },
    windowSeconds: 0,
    entry: setup.entry,
    targetsFile: file,
  });
  try {
    const result = await child.result;
    const tick = result.ticks[0]!;
    const wallS = (result.tickDoneAt - result.tickStartAt) / 1000;
    const rssMb = result.maxRssKb / 1024;
    const wrongly = tick.failing.filter((name) => !name.startsWith('refusing-'));
    const refusedReported = tick.failing.length - wrongly.length;
    const tooMany = tick.errors.filter((error) => /too many clients/.test(error)).length;
    const limits = Object.keys(env).length > 0 ? JSON.stringify(env) : 'defaults';
    ctx.log(
      `${size} targets (${idleCount} idle, ${BUSY} busy, ${refusing} refusing; limits ${limits}): ` +
        `tick ${round(wallS, 2)} s, peak RSS ${round(rssMb)} MB, peak ${peakConnections} runner connections, ` +
        `${tick.dispatched} of ${BUSY * JOBS_PER_BUSY} jobs dispatched, ${refusedReported} of ${refusing} refusing reported failed, ` +
        `${wrongly.length} other targets failed (${tooMany} "too many clients" errors)`,
    );
    const bench = 'fleet';
    return [
      {
        bench,
        name: `${size} targets: tick wall time`,
        value: round(wallS, 2),
        unit: 's',
        note: `limits ${limits}`,
      },
      {
        bench,
        name: `${size} targets: peak RSS`,
        value: round(rssMb),
        unit: 'MB',
        target: { value: 256, kind: 'max' },
      },
      {
        bench,
        name: `${size} targets: peak runner connections`,
        value: peakConnections,
        unit: 'connections',
        note: 'all on one PostgreSQL server (max_connections 400); sampled every 10 ms',
      },
      {
        bench,
        name: `${size} targets: idle or busy targets failed`,
        value: wrongly.length,
        unit: 'targets',
        target: { value: 0, kind: 'max' },
      },
    ];
  } finally {
    sampling = false;
    await sampling_;
    await sampler.end();
  }
}
