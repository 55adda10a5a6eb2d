// (a) Claim + dispatch throughput: N pending jobs (20 000), a stand-in that does no work (durationMs 0,
// latencyMs 0) and a large capacity (root:200); the runner process runs 1, then 8 concurrent ticks in
// window mode until the stand-in has taken every job. jobs/s = N / (last runjob request − tick start).
// The runner is alone in its process, so its CPU per job is its own; the stand-in (this process) and
// PostgreSQL are measured too, since all three share this machine's cores.
import { cpus } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { hiRes } from '../dev/stats.ts';
import * as sql from '../shared/sql.ts';
import { createJobs } from '../test/support/jobs.ts';
import { startOdoo } from '../test/support/odoo.ts';
import { type BackendCpu, sampleBackends } from './backends.ts';
import {
  BASELINE_REVISION,
  type BenchContext,
  baselineBuild,
  deployedEntry,
  type Figure,
  round,
  spawnRunner,
} from './common.ts';
import { resetStatements, STATEMENTS, topStatements } from './statements.ts';

const JOBS = 20_000;
const CAPACITY = 200;
const TIME_LIMIT_MS = 150_000;

export async function throughputBench(ctx: BenchContext): Promise<Figure[]> {
  const figures: Figure[] = [];
  // The runner as deployed (the bundle) when it builds; its memory then has no type stripper in it.
  const entry = await deployedEntry(ctx);
  // The same load on the code before issue 12's work, in this run: the "≥ 2× today's" target.
  const before = await baselineBuild(ctx);
  if (before !== null) figures.push(...(await run(ctx, 1, before, false, `baseline ${BASELINE_REVISION}`)));
  for (const ticks of [1, 8]) figures.push(...(await run(ctx, ticks, entry, false)));
  const base = figures.find((f) => f.name.startsWith('claim+dispatch, 1 tick, baseline'));
  const now = figures.find((f) => f.name === 'claim+dispatch, 1 tick (no-work stand-in)');
  if (base && now)
    figures.push({
      bench: 'throughput',
      name: `throughput vs baseline ${BASELINE_REVISION}, 1 tick, no index`,
      value: round(now.value / base.value, 2),
      unit: '×',
      target: { value: 2, kind: 'min' },
      note: `${now.value} vs ${base.value} jobs/s, same machine, same run`,
    });
  const figureValue = (name: string) => figures.find((f) => f.name.startsWith(name))?.value;
  const baseCost = figureValue("runner's own cost per job, 1 tick, baseline");
  const nowCost = figureValue("runner's own cost per job, 1 tick (");
  const ceiling = figures.find((f) => f.name === 'ceiling with a runner that costs nothing, 1 tick')?.value;
  if (baseCost && nowCost && base && ceiling)
    figures.push({
      bench: 'throughput',
      name: `runner's own cost per job, baseline ${BASELINE_REVISION} / now`,
      value: round(baseCost / nowCost, 2),
      unit: '×',
      target: { value: 2, kind: 'min' },
      note:
        `${baseCost} vs ${nowCost} µs a job; 2× the baseline's jobs/s would be ${2 * base.value} jobs/s, ` +
        `and the Odoo side alone allows ${ceiling} on this machine`,
    });
  // The same with the optional helper indexes: how much of the cost is the pass's candidate read.
  figures.push(...(await run(ctx, 1, entry, true)));
  return figures;
}

async function run(
  ctx: BenchContext,
  ticks: number,
  entry: string,
  indexed: boolean,
  /** Names a baseline run in the figures. */
  variant?: string,
): Promise<Figure[]> {
  const db = await ctx.database(`bench_throughput_${ticks}`);
  await createJobs(db.pool, JOBS, { channel: ['root', 'root.a', 'root.b', 'root.c'], priority: [5, 10, 15] });
  if (indexed) for (const index of sql.helperIndexes) await db.pool.query(index.create);
  await db.pool.query('VACUUM ANALYZE queue_job');
  // As many Odoo workers as capacity; each opens its connection before the clock starts (warm Odoo).
  const odoo = await startOdoo({
    databases: { [db.name]: db.url },
    workers: CAPACITY,
    durationMs: 0,
    latencyMs: 0,
  });
  await Promise.all(
    Array.from({ length: CAPACITY }, async () =>
      (await fetch(odoo.runjobUrl(db.name, 'warm-up'))).arrayBuffer(),
    ),
  );
  const warmUp = odoo.counts().requests;
  let lastRequest = 0;
  odoo.events.on('request', () => {
    lastRequest = hiRes();
  });

  const runner = spawnRunner({
    env: { DATABASE_URL: db.url, ODOO_URL: odoo.url, ODOO_QUEUE_JOB_CHANNELS: `root:${CAPACITY}` },
    ticks,
    entry,
    windowSeconds: Math.ceil(TIME_LIMIT_MS / 1000) + 10,
  });
  if (STATEMENTS) await resetStatements(db.pool);
  let completed = true;
  const backends = await sampleBackends(ctx.server.adminUrl, db.name);
  let backendCpu: BackendCpu = { runner: Number.NaN, odoo: Number.NaN, backends: 0 };
  const cpuBefore = process.cpuUsage();
  const pgBefore = ctx.postgresCpuSeconds();
  let tickStart = 0;
  let taken = 0;
  try {
    tickStart = await runner.started;
    await odoo
      .waitFor(() => odoo.counts().taken >= JOBS, TIME_LIMIT_MS, `${JOBS} jobs taken`)
      .catch(() => {
        completed = false;
      });
    taken = odoo.counts().taken;
    backendCpu = await backends.stop(); // before the runner's backends close with it
  } finally {
    runner.stop();
  }
  const result = await runner.result;
  const standinCpu = process.cpuUsage(cpuBefore);
  const pgCpuMs = (ctx.postgresCpuSeconds() - pgBefore) * 1000;
  await odoo.waitFor(() => odoo.counts().inFlight === 0, 10_000).catch(() => {});
  await delay(100);
  await odoo.close();
  const statements = STATEMENTS ? await topStatements(db.pool, taken) : [];
  await db.close();

  const seconds = (lastRequest - tickStart) / 1000;
  const rate = round(taken / seconds, 0);
  const runnerCpuMs = result.cpuUserMs + result.cpuSystemMs;
  const passes = result.ticks.reduce((n, t) => n + t.passes, 0);
  const claimed = result.ticks.reduce((n, t) => n + t.claimed, 0);
  const perJob = (ms: number) => round((ms / taken) * 1000, 0);
  const requests = odoo.counts().requests - warmUp;
  const runnerUs = perJob(runnerCpuMs);
  const standinUs = perJob((standinCpu.user + standinCpu.system) / 1000);
  const runnerPgUs = perJob(backendCpu.runner * 1000);
  const odooPgUs = perJob(backendCpu.odoo * 1000);
  const label = `${ticks} tick${ticks > 1 ? 's' : ''}${indexed ? ', helper indexes' : ''}${variant ? `, ${variant}` : ''}`;
  ctx.log(
    `${label}: ${taken}/${JOBS} jobs taken in ${round(seconds, 2)} s = ${rate} jobs/s${completed ? '' : ' (time limit hit)'}; ` +
      `${passes} passes, ${claimed} claimed, ${requests} runjob requests; ` +
      `CPU per job: runner ${runnerUs} µs, stand-in ${standinUs} µs, ` +
      `PostgreSQL ${perJob(pgCpuMs)} µs (the runner's backends ${runnerPgUs}, the stand-in's ${odooPgUs}, ` +
      `of ${backendCpu.backends}); runner (${variant ?? entry}) peak RSS ${round(result.maxRssKb / 1024)} MB ` +
      `(heap ${result.peakMb.heapUsed} MB, external ${result.peakMb.external} MB; at the peak ` +
      `${result.peakMb.anon} MB anonymous, ${result.peakMb.file} MB mapped files)`,
  );
  for (const line of statements) ctx.log(`  ${line}`);
  const runnerBound = round((taken / runnerCpuMs) * 1000, 0);
  return [
    {
      bench: 'throughput',
      name: `claim+dispatch, ${label} (no-work stand-in)`,
      value: rate,
      unit: 'jobs/s',
      target: { value: 5000, kind: 'min' },
      note:
        `${taken} jobs, root:${CAPACITY}; runner, stand-in and PostgreSQL share ${cpus().length} cores; ` +
        `CPU per job: runner ${runnerUs} µs, stand-in ${standinUs} µs, PostgreSQL ${perJob(pgCpuMs)} µs`,
    },
    {
      bench: 'throughput',
      name: `runner CPU bound, ${label} (jobs per runner CPU-second)`,
      value: runnerBound,
      unit: 'jobs/s',
      target: { value: 5000, kind: 'min' },
      note: 'what the runner process alone could sustain with a core to itself: jobs / its own CPU time',
    },
    {
      bench: 'throughput',
      name: `runner's own cost per job, ${label} (its CPU + its PostgreSQL backends')`,
      value: runnerUs + runnerPgUs,
      unit: 'µs',
      note: `runner ${runnerUs} µs + its backends ${runnerPgUs} µs`,
    },
    {
      bench: 'throughput',
      name: `ceiling with a runner that costs nothing, ${label}`,
      value: round((cpus().length * 1e6) / (standinUs + odooPgUs), 0),
      unit: 'jobs/s',
      note:
        `${cpus().length} cores / the Odoo side's CPU per job: the stand-in ${standinUs} µs + its PostgreSQL ` +
        `backends ${odooPgUs} µs; the runner's own: ${runnerUs} µs + its backends ${runnerPgUs} µs`,
    },
    {
      bench: 'throughput',
      name: `peak RSS, runner under load (${label})`,
      value: round(result.maxRssKb / 1024),
      unit: 'MB',
      target: { value: 100, kind: 'max' },
      note:
        `peak JS heap used ${result.peakMb.heapUsed} MB, external ${result.peakMb.external} MB (sampled every 50 ms); ` +
        `resident at the peak: ${result.peakMb.anon} MB anonymous, ${result.peakMb.file} MB mapped files (the node binary)`,
    },
  ];
}
