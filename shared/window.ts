/**
 * Serving one target for one tick (design, "The window"). The first pass runs at once; with a window,
 * a dedicated LISTEN connection wakes a new pass when Odoo's trigger notifies (coalesced over a few
 * ms), when the earliest eta or a throttle pause comes due, and every few seconds as a fallback
 * (NOTIFY does not pass a transaction pooler). No pass starts after the window; every dispatch is
 * settled, the summary is returned, and every connection is closed.
 */
import type pg from 'pg';
import { claimPass, PASS_LIMIT, type ThrottleMemory } from './claim.ts';
import type { Config } from './config.ts';
import { defaultTimeouts, isLockTimeout, openClient } from './database.ts';
import { type Dispatcher, type DispatchReport, dispatchClaimed } from './dispatch.ts';
import { delivered, explain, type Outcome, type OutcomeKind, outcomeKinds } from './outcome.ts';
import { errorMessage } from './redact.ts';
import * as sql from './sql.ts';
import { findLockTable, sweep } from './sweep.ts';
import {
  helperIndexesPresent,
  openDispatcher,
  type TargetRuntime,
  UPSTREAM_RUNNER_HELP,
  upstreamRunnerActive,
} from './target.ts';

export interface TargetSummary {
  target: string;
  /** Served: the database answered, Odoo took what was sent, no upstream runner. */
  ok: boolean;
  paused: boolean;
  upstreamRunner: boolean;
  passes: number;
  claimed: number;
  /** Requests Odoo received (accepted, failed or running). */
  dispatched: number;
  outcomes: Record<OutcomeKind, number>;
  reverted: number;
  swept: { enqueued: number; started: number; failed: number };
  liveness: string | null;
  errors: string[];
  durationMs: number;
}

export interface ServeOptions {
  windowSeconds: number;
  /** Stops starting passes early (SIGTERM, client gone). */
  signal?: AbortSignal;
}

/** Fallback poll period inside a window, for when notifications cannot arrive. */
export const POLL_MS = 5000;
/** Notifications arriving this close together share one pass. */
export const COALESCE_MS = 2;
/** A pass slower than this without the helper indexes earns one hint per tick to create them. */
const SLOW_PASS_MS = 150;
/** A lost LISTEN connection is reopened at most this often. */
const RELISTEN_MS = 1000;
/** The sweep runs with the first pass and then at most this often. */
export const SWEEP_EVERY_MS = 1000;
/** How often the upstream-runner lock is checked inside a window. */
const UPSTREAM_CHECK_MS = 5000;
/** Pause after a pass fails or the target is unhealthy, doubling up to BACKOFF_MAX_MS. */
const BACKOFF_MS = 500;
const BACKOFF_MAX_MS = 8000;

export function emptySummary(name: string, paused: boolean): TargetSummary {
  return {
    target: name,
    ok: true,
    paused,
    upstreamRunner: false,
    passes: 0,
    claimed: 0,
    dispatched: 0,
    outcomes: Object.fromEntries(outcomeKinds.map((kind) => [kind, 0])) as Record<OutcomeKind, number>,
    reverted: 0,
    swept: { enqueued: 0, started: 0, failed: 0 },
    liveness: null,
    errors: [],
    durationMs: 0,
  };
}

/** Wake-ups from Odoo's NOTIFY trigger on a dedicated connection; a lost connection falls back to polling. */
class Listener {
  private client: pg.Client | null = null;
  private wake: (() => void) | null = null;
  notified = false;

  async open(databaseUrl: string): Promise<void> {
    const client = openClient(databaseUrl);
    client.on('notification', () => {
      this.notified = true;
      this.wake?.();
    });
    // The connection died (terminated, network): wake the loop, which passes to catch up and listens again.
    const lost = () => {
      if (this.client !== client) return;
      this.client = null;
      this.notified = true;
      this.wake?.();
    };
    client.on('error', lost);
    client.on('end', lost);
    await client.connect();
    await client.query(sql.listen);
    this.client = client;
  }

  get listening(): boolean {
    return this.client !== null;
  }

  /** Resolves on a notification, at `until` (local ms), or on abort; whichever comes first. */
  wait(until: number, signal?: AbortSignal): Promise<void> {
    if (this.notified) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, until - Date.now()));
      signal?.addEventListener('abort', done, { once: true });
      this.wake = done;
    });
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => {});
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function serve(
  runtime: TargetRuntime,
  config: Config,
  options: ServeOptions,
): Promise<TargetSummary> {
  const started = Date.now();
  const deadline = started + options.windowSeconds * 1000;
  const { target, pool, tree, log } = runtime;
  const summary = emptySummary(target.name, target.paused);
  const errors = new Set<string>();
  const fail = (message: string, fields?: Record<string, unknown>) => {
    if (!errors.has(message)) log.error(message, fields);
    errors.add(message);
  };

  if (target.paused) {
    log.warning(
      'channels start with root:0 (the runner is disabled for this target): nothing is dispatched',
      {
        event: 'target_paused',
      },
    );
    summary.durationMs = Date.now() - started;
    return summary;
  }

  const inflight = new Set<Promise<void>>();
  const listener = new Listener();
  let dispatcher: Dispatcher | null = null;
  let lockTable: string | null = null;
  let indexed = false;
  let healthy = true;
  let passFailed = false;
  let backoff = 0;
  let backoffUntil = 0;
  let lastSweep = 0;
  let lastUpstreamCheck = 0;
  let lastListen = 0;
  let detected = false;
  let slowPassReported = false;
  const throttles: ThrottleMemory = new Map();

  const settle = (report: DispatchReport) => {
    for (const { job, outcome } of report.results) {
      if (outcome === null) continue;
      summary.outcomes[outcome.kind] += 1;
      if (delivered(outcome)) summary.dispatched += 1;
      if (outcome.kind === 'failed')
        log.warning('job failed in Odoo', { uuid: job.uuid, channel: job.channel, outcome: 'failed' });
      else log.debug('job dispatched', { uuid: job.uuid, channel: job.channel, outcome: outcome.kind });
    }
    summary.reverted += report.reverted.length;
    if (report.stoppedBy) {
      healthy = false;
      reportUnhealthy(report.stoppedBy, report.reverted.length);
      backoff = Math.min(BACKOFF_MAX_MS, backoff === 0 ? BACKOFF_MS : backoff * 2);
      backoffUntil = Date.now() + backoff;
      // A proxy answering 502-504 fronts a sleeping worker: a request to Odoo wakes it.
      if (report.stoppedBy.kind === 'unavailable') void dispatcher?.wake();
    } else if (report.results.some((r) => r.outcome !== null && delivered(r.outcome))) {
      healthy = true;
      backoff = 0;
    } else if (report.results.length > 0) {
      // Every connection dropped: do not spin claim/revert cycles against a flapping Odoo.
      backoff = Math.min(BACKOFF_MAX_MS, backoff === 0 ? BACKOFF_MS : backoff * 2);
      backoffUntil = Date.now() + backoff;
    }
  };

  const reportUnhealthy = (outcome: Outcome, reverted: number) => {
    const message = explain(outcome);
    if (outcome.kind === 'unavailable') {
      log.warning(message, { outcome: outcome.kind, reverted });
      errors.add(message);
    } else fail(message, { outcome: outcome.kind, reverted });
  };

  const pass = async () => {
    summary.passes += 1;
    const now = Date.now();
    if (now - lastUpstreamCheck >= UPSTREAM_CHECK_MS) {
      lastUpstreamCheck = now;
      summary.upstreamRunner = await upstreamRunnerActive(pool);
    }
    if (summary.upstreamRunner) {
      fail(UPSTREAM_RUNNER_HELP, { event: 'upstream_runner' });
      return;
    }
    if (now - lastSweep >= SWEEP_EVERY_MS) {
      lastSweep = now;
      if (!detected) {
        lockTable = await findLockTable(pool);
        indexed = await helperIndexesPresent(pool);
        detected = true;
      }
      const swept = await sweep(
        pool,
        defaultTimeouts,
        {
          enqueuedTimeoutSeconds: config.enqueuedTimeoutSeconds,
          pgAppName: config.pgAppName,
          graceSeconds: config.startedGraceSeconds,
        },
        lockTable,
      );
      summary.liveness = swept.liveness;
      for (const job of swept.jobs) {
        if (job.from === 'enqueued') summary.swept.enqueued += 1;
        else if (job.state === 'failed') summary.swept.failed += 1;
        else summary.swept.started += 1;
        log.warning(
          job.from === 'enqueued'
            ? 'lost enqueued job requeued'
            : `dead started job ${job.state === 'failed' ? 'failed (JobFoundDead)' : 'requeued'}`,
          {
            uuid: job.uuid,
            channel: job.channel,
            event: 'sweep',
          },
        );
      }
    }
    if (Date.now() < backoffUntil) return;
    dispatcher ??= await openDispatcher(runtime, config);
    const passStarted = Date.now();
    const result = await claimPass(pool, tree, defaultTimeouts, PASS_LIMIT, indexed, throttles);
    if (!indexed && !slowPassReported && Date.now() - passStarted > SLOW_PASS_MS) {
      slowPassReported = true;
      log.warning(
        `a claim pass took ${Date.now() - passStarted} ms reading the pending backlog; ` +
          'run `queue-job-runner optimize` to create the helper indexes (see README, "optimize")',
        { event: 'slow_pass' },
      );
    }
    summary.claimed += result.claimed.length;
    nextWake = result.wakeAt === null ? null : result.wakeAt - result.now + Date.now();
    morePending = result.more;
    if (result.claimed.length === 0) return;
    const batch = dispatchClaimed(dispatcher, pool, result.claimed)
      .then(settle)
      .catch((error: unknown) => fail(`dispatch bookkeeping failed: ${errorMessage(error)}`));
    if (options.windowSeconds === 0) {
      await batch;
      return;
    }
    inflight.add(batch);
    void batch.finally(() => inflight.delete(batch));
  };

  let nextWake: number | null = null;
  let morePending = false;

  /** (Re)opens the LISTEN connection, at most once a second; polling covers the gaps. */
  const listen = async () => {
    if (options.windowSeconds === 0 || listener.listening || Date.now() - lastListen < RELISTEN_MS) return;
    lastListen = Date.now();
    try {
      await listener.open(target.databaseUrl);
    } catch (error) {
      log.warning(`LISTEN failed, polling every ${POLL_MS / 1000} s meanwhile: ${errorMessage(error)}`);
    }
  };

  /** Waits for the next reason to pass: a notification, the next eta or pause end, the poll, the back-off. */
  const waitForWork = async () => {
    if (Date.now() < backoffUntil) {
      // Backing off: notifications do not shorten it.
      await sleep(Math.min(backoffUntil, deadline) - Date.now());
      return;
    }
    if (morePending) return;
    const wake = nextWake === null ? Number.POSITIVE_INFINITY : nextWake + 5;
    // Not listening (lost, or failed to open): come back when it may be reopened.
    const relisten = listener.listening ? Number.POSITIVE_INFINITY : lastListen + RELISTEN_MS;
    await listener.wait(Math.min(deadline, Date.now() + POLL_MS, wake, relisten), options.signal);
    if (listener.notified) await sleep(COALESCE_MS);
  };

  try {
    for (;;) {
      await listen();
      listener.notified = false;
      try {
        await pass();
        passFailed = false;
      } catch (error) {
        if (isLockTimeout(error))
          log.debug('pass skipped: another pass holds the baton or a row', { event: 'busy' });
        else {
          passFailed = true;
          fail(`pass failed: ${errorMessage(error)}`);
          backoff = Math.min(BACKOFF_MAX_MS, backoff === 0 ? BACKOFF_MS : backoff * 2);
          backoffUntil = Date.now() + backoff;
        }
      }
      if (options.windowSeconds === 0 || options.signal?.aborted || Date.now() >= deadline) break;
      await waitForWork();
      if (Date.now() >= deadline || options.signal?.aborted) break;
    }
    await Promise.all(inflight);
  } catch (error) {
    fail(`target failed: ${errorMessage(error)}`);
  } finally {
    await Promise.all(inflight);
    await listener.close();
    await (dispatcher as Dispatcher | null)?.close();
  }
  summary.errors = [...errors];
  // Served means the target ended healthy: its last pass worked and Odoo took its last batch.
  summary.ok = healthy && !passFailed && !summary.upstreamRunner;
  summary.durationMs = Date.now() - started;
  return summary;
}
