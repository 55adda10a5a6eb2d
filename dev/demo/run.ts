// The demo from start to end: a database server, the Odoo stand-in, a seeded workload, and the production
// tick (shared/tick.ts) in window mode, fired like Cloud Scheduler would, until every job is terminal.
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pg from 'pg';
import { channelTree, normalizeChannel, parseChannels } from '../../shared/channels.ts';
import { loadConfig } from '../../shared/config.ts';
import { createLogger, type Logger } from '../../shared/log.ts';
import * as sql from '../../shared/sql.ts';
import { type TickSummary, tick } from '../../shared/tick.ts';
import { type Bridge, startBridge } from '../../test/support/bridge.ts';
import { setWebBaseUrl } from '../../test/support/db.ts';
import { type OdooStandin, type Outcome, startOdoo } from '../../test/support/odoo.ts';
import { hiRes, sleep } from '../stats.ts';
import { type Committed, produce } from './producer.ts';
import { Recorder } from './recorder.ts';
import { buildScenario, type JobSpec } from './scenario.ts';
import { createDemoDatabase, type DemoServer, dropDemoDatabase, openServer } from './server.ts';
import { type DemoSummary, formatSummary, summarize } from './summary.ts';
import { type ChannelView, Display, emptyCounts, type Snapshot, type ViewState } from './view.ts';

export interface DemoOptions {
  jobs: number;
  seed: number;
  keep: boolean;
  json: boolean;
  /** Use this PostgreSQL server (superuser URL) instead of starting an embedded one. */
  adminUrl?: string;
  /** Port of the embedded server (default: a free one). */
  pgPort?: number;
  windowSeconds: number;
  timeoutSeconds: number;
  /** Create the optional helper indexes first, as `queue-job-runner optimize` does. */
  helperIndexes: boolean;
  /**
   * Reach the database through the companion Odoo addon (its Python core behind tests/serve.py, needs
   * python3 with psycopg2) instead of a database URL, as on Odoo.sh.
   */
  bridge?: boolean;
  /** Aborted on SIGINT/SIGTERM: stop, clean up, report what was done. */
  signal: AbortSignal;
  /** Called once the server is up, so a second Ctrl-C can still stop it. */
  onServer?: (server: DemoServer) => void;
}

export interface DemoResult {
  summary: DemoSummary | null;
  exitCode: number;
}

const STATUS_EVERY_MS = 200;
/** Odoo's HTTP workers: more than root's capacity, so capacity, not workers, limits what runs. */
const STANDIN_WORKERS = 24;
/** The runner is up before users create jobs, as it is in production. */
const RUNNER_HEAD_START_MS = 300;

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const started = hiRes();
  const out = process.stdout;
  const err = process.stderr;
  const say = (line: string) => (options.json ? err : out).write(`${line}\n`);
  const scenario = buildScenario(options.jobs, options.seed);
  const tree = channelTree(parseChannels(scenario.channels));
  const specByUuid = new Map<string, JobSpec>();
  const committed = new Map<string, Committed>();

  say(`Starting PostgreSQL${options.adminUrl ? ' (given server)' : ' (embedded, no Docker needed)'}…`);
  const server = await openServer({
    adminUrl: options.adminUrl,
    keep: options.keep,
    port: options.pgPort,
  }).catch((error: unknown) => {
    // A Ctrl-C in the terminal reaches PostgreSQL too: a start that failed after it was interrupted.
    if (options.signal.aborted) return null;
    throw error;
  });
  if (server === null) {
    say('Interrupted while PostgreSQL was starting; nothing was left behind.');
    return { summary: null, exitCode: 130 };
  }
  options.onServer?.(server);
  const embedded = server.kind === 'embedded';
  const dbName = embedded ? 'qjr_demo' : `qjr_demo_${process.pid}_${randomBytes(3).toString('hex')}`;
  let odoo: OdooStandin | null = null;
  let bridge: Bridge | null = null;
  let pool: pg.Pool | null = null;
  let display: Display | null = null;
  let databaseCreated = false;
  let summary: DemoSummary | null = null;
  let setupMs = 0;
  try {
    if (options.signal.aborted) throw new Interrupted();
    const databaseUrl = await createDemoDatabase(server.adminUrl, dbName, embedded);
    databaseCreated = true;
    pool = new pg.Pool({ connectionString: databaseUrl, max: 4, application_name: 'qjr-demo' });
    pool.on('error', () => {});
    if (options.helperIndexes) for (const index of sql.helperIndexes) await pool.query(index.create);

    odoo = await startOdoo({
      databases: { [dbName]: databaseUrl },
      workers: STANDIN_WORKERS,
      seed: scenario.seed,
      retryDelaySeconds: scenario.retryDelaySeconds,
      // Every job's fate and duration were decided by the seed: the expected failures are known.
      outcome: (job): Outcome => {
        const spec = specByUuid.get(job.uuid);
        if (spec?.fate === 'fail') return 'failed';
        if (spec?.fate === 'exhaust') return 'retryable';
        if (spec?.fate === 'retry') return job.retry === 0 ? 'retryable' : 'done';
        return 'done';
      },
      durationMs: (job) => specByUuid.get(job.uuid)?.durationMs ?? 5,
    });
    const warmed = await warmUp(odoo, dbName, STANDIN_WORKERS);
    // Through the bridge, one host serves the addon and runjob (as on Odoo.sh): a proxy in front of
    // the addon's core and the stand-in. Runjob requests follow web.base.url in both cases.
    if (options.bridge) bridge = await startBridge(databaseUrl, odoo.url);
    const reach = bridge
      ? { ODOO_URL: bridge.url, ODOO_BRIDGE_TOKEN: bridge.token }
      : { DATABASE_URL: databaseUrl };
    // No ODOO_URL (direct): the runner reads web.base.url from the database, as on a staging clone.
    await setWebBaseUrl(pool, bridge?.url ?? odoo.url);
    const config = loadConfig({
      ...reach,
      ODOO_QUEUE_JOB_CHANNELS: scenario.channels,
      TICK_WINDOW_SECONDS: String(options.windowSeconds),
    });
    const recorder = await Recorder.start(odoo, pool, databaseUrl);
    const logs = logSink(options.json || !out.isTTY ? (line) => err.write(`${line}\n`) : null);
    setupMs = hiRes() - started;
    say(
      `${server.description}; database ${dbName}; stand-in Odoo at ${odoo.url}; ` +
        `${bridge ? `through the bridge at ${bridge.url} (the addon's Python core, polling every ${config.bridgePollMs} ms); ` : ''}` +
        `ODOO_QUEUE_JOB_CHANNELS=${scenario.channels}; helper indexes: ${options.helperIndexes ? 'yes' : 'no'}`,
    );
    say(
      `${scenario.total} jobs (seed ${scenario.seed}): backlog + arrivals over ${scenario.streamMs / 1000} s, ` +
        `${scenario.expectedFailures} expected to fail; ticks of ${options.windowSeconds} s, one fired every ` +
        `${options.windowSeconds} s like Cloud Scheduler`,
    );

    display = new Display(options.json ? err : out, options.json ? 'plain' : out.isTTY ? 'tty' : 'plain');
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    options.signal.addEventListener('abort', onAbort, { once: true });

    const ticks = scheduleTicks(config, logs.log, options.windowSeconds, stop.signal);
    await sleep(RUNNER_HEAD_START_MS, stop.signal);
    const loopDelay = monitorEventLoopDelay({ resolution: 1 });
    loopDelay.enable();
    const productionStart = hiRes();
    let produced = false;
    const producing = produce(
      pool,
      scenario,
      // Runs in the same turn as the INSERT's result, long before the runner can claim and send one of
      // these jobs (a NOTIFY, a pass and an HTTP request later): the outcome hook always knows the spec.
      (jobs) => {
        for (const job of jobs) {
          committed.set(job.uuid, job);
          specByUuid.set(job.uuid, job.spec);
        }
      },
      stop.signal,
    ).finally(() => {
      produced = true;
    });
    const deadline = started + options.timeoutSeconds * 1000;
    let timedOut = false;
    let snapshot: Snapshot | null = null;
    for (;;) {
      snapshot = await takeSnapshot(pool, odoo, tree, scenario.total, committed.size, started, ticks, logs);
      display.show(snapshot);
      const root = snapshot.rows[0]!.counts;
      if (produced && root.done + root.failed >= scenario.total) break;
      if (stop.signal.aborted) break;
      if (hiRes() > deadline) {
        timedOut = true;
        break;
      }
      await sleep(STATUS_EVERY_MS, stop.signal);
    }
    stop.abort();
    options.signal.removeEventListener('abort', onAbort);
    await producing.catch((error: unknown) => logs.log.error(`producer failed: ${String(error)}`));
    const tickSummaries = await ticks.done;
    await recorder.settle();
    snapshot = await takeSnapshot(pool, odoo, tree, scenario.total, committed.size, started, ticks, logs);
    display.show(snapshot, true);
    display.close();
    display = null;
    await recorder.close();
    if (timedOut) say(`Timed out after ${options.timeoutSeconds} s with jobs still not terminal.`);
    summary = await summarize({
      scenario,
      committed,
      recorder,
      odoo,
      pool,
      tree,
      ticks: tickSummaries,
      windowSeconds: options.windowSeconds,
      productionStart,
      interrupted: options.signal.aborted,
      database: `${server.description} / ${dbName}`,
      warmUpRequests: warmed,
      eventLoopDelayMs: {
        p50: round2(loopDelay.percentile(50) / 1e6),
        p99: round2(loopDelay.percentile(99) / 1e6),
        max: round2(loopDelay.max / 1e6),
      },
    });
    loopDelay.disable();
  } catch (error) {
    // Interrupted: a Ctrl-C in the terminal also stops PostgreSQL, so whatever failed after it is moot.
    if (!(error instanceof Interrupted) && !options.signal.aborted) throw error;
  } finally {
    display?.close();
    await bridge?.close().catch(() => {});
    await odoo?.close({ graceMs: 2_000 }).catch(() => {});
    await pool?.end().catch(() => {});
    if (options.keep) {
      await server.detach();
    } else {
      if (databaseCreated && !embedded) await dropDemoDatabase(server.adminUrl, dbName).catch(() => {});
      await server.stop();
    }
  }

  const totalMs = hiRes() - started;
  if (!summary && options.signal.aborted) say('Interrupted before there was anything to sum up.');
  if (summary) {
    for (const line of formatSummary(summary, { setupMs, totalMs })) say(line);
    if (options.json)
      out.write(`${JSON.stringify({ ...summary, elapsedMs: Math.round(totalMs) }, null, 2)}\n`);
  }
  if (options.keep) {
    const url = new URL(server.adminUrl);
    url.pathname = `/${dbName}`;
    say('');
    say(`Database left running: ${url.toString()}`);
    say(`  look:  psql '${url.toString()}' -c "SELECT state, count(*) FROM queue_job GROUP BY 1"`);
    if (embedded) say('  stop:  npm run demo -- --stop   (stops the server and removes its data directory)');
  } else {
    say(
      embedded
        ? 'Cleaned up: stand-in closed, PostgreSQL stopped, data directory removed.'
        : `Cleaned up: stand-in closed, database ${dbName} dropped.`,
    );
  }
  if (options.signal.aborted) return { summary, exitCode: 130 };
  return { summary, exitCode: summary?.ok ? 0 : 1 };
}

class Interrupted extends Error {}

/**
 * A running Odoo's workers hold their database connections already; the stand-in's open theirs on
 * first use (SCRAM authentication, a few ms of CPU each). One concurrent request per worker for a job
 * that does not exist (answered 200, not taken) opens them all before the clock starts.
 */
async function warmUp(odoo: OdooStandin, db: string, workers: number): Promise<number> {
  await Promise.all(
    Array.from({ length: workers }, async () => {
      const response = await fetch(odoo.runjobUrl(db, 'warm-up'));
      await response.arrayBuffer();
    }),
  );
  return workers;
}

const round2 = (x: number) => Math.round(x * 100) / 100;

interface ScheduledTicks {
  started: number;
  running: number;
  done: Promise<TickSummary[]>;
}

/** Cloud Scheduler, scaled down: a tick with a window of W seconds is fired every W seconds. */
function scheduleTicks(
  config: ReturnType<typeof loadConfig>,
  log: Logger,
  windowSeconds: number,
  signal: AbortSignal,
): ScheduledTicks {
  const results: TickSummary[] = [];
  const running = new Set<Promise<void>>();
  const state: ScheduledTicks = { started: 0, running: 0, done: Promise.resolve(results) };
  state.done = (async () => {
    while (!signal.aborted) {
      state.started += 1;
      const run = tick(config, log, { windowSeconds, signal }).then(
        (summary) => {
          results.push(summary);
        },
        (error: unknown) => log.error(`tick failed: ${String(error)}`),
      );
      running.add(run);
      state.running = running.size;
      void run.finally(() => {
        running.delete(run);
        state.running = running.size;
      });
      await sleep(windowSeconds * 1000, signal);
    }
    await Promise.all(running);
    return results;
  })();
  return state;
}

interface LogSink {
  log: Logger;
  warnings: number;
  lastError: string | null;
}

/**
 * The runner's structured logs: warnings are counted (a failing job is one, and ~5 % fail on purpose),
 * errors are kept for the view and, off a terminal, printed.
 */
function logSink(print: ((line: string) => void) | null): LogSink {
  const sink: LogSink = {
    warnings: 0,
    lastError: null,
    log: createLogger({
      level: 'warning',
      write: (line) => {
        const entry = JSON.parse(line) as { severity: string; message: string };
        if (entry.severity === 'WARNING') sink.warnings += 1;
        else {
          sink.lastError = entry.message;
          print?.(line);
        }
      },
    }),
  };
  return sink;
}

const STATUS_SQL = `
SELECT coalesce(channel, '') AS channel, state,
  (state = 'pending' AND eta > now() AT TIME ZONE 'utc') AS scheduled, count(*)::int AS n
FROM queue_job GROUP BY 1, 2, 3`;

async function takeSnapshot(
  pool: pg.Pool,
  odoo: OdooStandin,
  tree: ReturnType<typeof channelTree>,
  total: number,
  created: number,
  started: number,
  ticks: ScheduledTicks,
  logs: LogSink,
): Promise<Snapshot> {
  // Read-only: counts by channel and state.
  const { rows } = await pool.query<{ channel: string; state: string; scheduled: boolean; n: number }>(
    STATUS_SQL,
  );
  const byName = new Map<string, ChannelView>();
  const row = (name: string): ChannelView => {
    let view = byName.get(name);
    if (!view) {
      const configured = tree.configured.get(name);
      view = {
        name,
        capacity: configured?.capacity ?? null,
        note: configured
          ? [
              configured.sequential ? 'sequential' : '',
              configured.throttle ? `throttle ${configured.throttle} s` : '',
            ]
              .filter(Boolean)
              .join(', ')
          : "not configured: root's limit",
        counts: emptyCounts(),
        running: odoo.running(name),
        peak: odoo.peakRunning(name),
      };
      byName.set(name, view);
    }
    return view;
  };
  row('root');
  for (const name of tree.configured.keys()) row(name);
  for (const r of rows) {
    const state = (r.scheduled ? 'scheduled' : r.state) as ViewState;
    for (const name of new Set(['root', normalizeChannel(r.channel)])) {
      const counts = row(name).counts;
      if (state in counts) counts[state] += r.n;
    }
  }
  const [root, ...rest] = [...byName.values()];
  return {
    elapsedMs: hiRes() - started,
    total,
    created,
    rows: [root!, ...rest.sort((a, b) => a.name.localeCompare(b.name))],
    ticks: { started: ticks.started, running: ticks.running },
    warnings: logs.warnings,
    lastError: logs.lastError,
  };
}
