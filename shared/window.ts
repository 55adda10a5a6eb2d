/**
 * Serving one target for one tick (design, "The window"). The first pass runs at once; with a window,
 * the target's waker starts a new pass when something happens (Odoo's NOTIFY on the direct path, whose
 * named jobs keep the window's channel heads current; every BRIDGE_POLL_MS through the bridge), when
 * the earliest eta or a throttle pause comes due, and at the waker's poll period as a fallback. No pass
 * starts after the window; every dispatch is settled, the summary is returned, and every connection is
 * closed. Nothing here knows which transport the target uses.
 */

import { assess, type Capabilities, probe } from './capabilities.ts';
import { claimPass, type PassOptions, type ThrottleMemory } from './claim.ts';
import type { Config } from './config.ts';
import { isLockTimeout } from './database.ts';
import { type Dispatcher, type DispatchReport, dispatchClaimed } from './dispatch.ts';
import { Heads } from './heads.ts';
import { PROBE_EVERY_MS, unjudgedWarning } from './liveness.ts';
import { delivered, explain, type Outcome, type OutcomeKind, outcomeKinds } from './outcome.ts';
import { errorMessage } from './redact.ts';
import { type SweepOptions, type SweepResult, sweep } from './sweep.ts';
import { type HelperIndexes, helperIndexesPresent, openDispatcher, type TargetRuntime } from './target.ts';
import { pause, type Waker } from './transport.ts';

export interface TargetSummary {
  target: string;
  /** Served: the database answered, Odoo took what was sent, no upstream runner. */
  ok: boolean;
  paused: boolean;
  upstreamRunner: boolean;
  /** queue_job's series and version as the capability probe read them (null: not read). */
  series: string | null;
  queueJobVersion: string | null;
  /** Why the target was refused (unsupported version, built-in runner…), or null. */
  refused: string | null;
  /** Why passes were skipped (modules being installed or upgraded), or null. */
  skipped: string | null;
  passes: number;
  claimed: number;
  /** Requests Odoo received (accepted, failed or running). */
  dispatched: number;
  outcomes: Record<OutcomeKind, number>;
  reverted: number;
  swept: { enqueued: number; started: number; failed: number };
  /** Claims whose plan another runner overtook, planned again (concurrent ticks, the bridge). */
  replans: number;
  liveness: string | null;
  /**
   * Started jobs past the grace that no liveness signal could judge at the tick's last sweep, even
   * after Odoo was asked to connect: they hold capacity and are left alone (a warning says why).
   */
  unjudged: number;
  /** Served, but not well: something an operator must fix (started jobs that cannot be judged). */
  warnings: string[];
  errors: string[];
  durationMs: number;
}

export interface ServeOptions {
  windowSeconds: number;
  /** Stops starting passes early (SIGTERM, client gone). */
  signal?: AbortSignal;
}

/**
 * While dispatches are in flight, a wake-up within this many ms of the last pass's end waits for the
 * rest of it, so a busy window claims its completions in batches. Measured (20,000 no-op jobs,
 * root:200, 1 tick, alternated runs, idle 2-core machine): 2 ms 1,028 and 975 passes, PostgreSQL 746
 * and 798 µs of CPU a job, 1,360 and 1,298 jobs/s; 10 ms 473 and 464 passes, 589 and 876 µs, 1,396 and
 * 1,075 jobs/s; 20 ms 301 and 298 passes, 571 and 668 µs, 1,445 and 1,493 jobs/s. 10 ms halves the
 * passes (the database work a busy window adds beside Odoo's) for at most 10 ms more on a pickup made
 * while others are in flight. With nothing in flight (a lone new job) the pass starts at once.
 */
export const COALESCE_MS = 10;
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
    series: null,
    queueJobVersion: null,
    refused: null,
    skipped: null,
    passes: 0,
    claimed: 0,
    dispatched: 0,
    outcomes: Object.fromEntries(outcomeKinds.map((kind) => [kind, 0])) as Record<OutcomeKind, number>,
    reverted: 0,
    swept: { enqueued: 0, started: 0, failed: 0 },
    replans: 0,
    liveness: null,
    unjudged: 0,
    warnings: [],
    errors: [],
    durationMs: 0,
  };
}

const PAUSED_MESSAGE =
  'channels start with root:0 (the runner is disabled for this target): nothing is dispatched';

export async function serve(
  runtime: TargetRuntime,
  config: Config,
  options: ServeOptions,
): Promise<TargetSummary> {
  const started = Date.now();
  if (runtime.target.paused) {
    runtime.log.warning(PAUSED_MESSAGE, { event: 'target_paused' });
    return { ...emptySummary(runtime.target.name, true), durationMs: Date.now() - started };
  }
  const window = new TargetWindow(runtime, config, options, started);
  return window.run();
}

/** One target's window: its state between passes, and the steps of one pass. */
class TargetWindow {
  readonly summary: TargetSummary;
  private readonly errors = new Set<string>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly waker: Waker;
  private readonly throttles: ThrottleMemory = new Map();
  /** Channel heads kept between passes, when the waker names what changed (LISTEN): `heads.ts`. */
  private readonly heads: PassOptions['heads'];
  private readonly deadline: number;
  private dispatcher: Dispatcher | null = null;
  private capabilities: Capabilities | null = null;
  private current: ReturnType<typeof assess> | null = null;
  /** A module upgrade kept the database skipped for over an hour: the tick is not ok. */
  private stuck = false;
  private indexes: HelperIndexes = { candidates: false, throttle: false, all: false };
  private detected = false;
  private healthy = true;
  private passFailed = false;
  private backoff = 0;
  private backoffUntil = 0;
  private lastSweep = 0;
  private lastProbe = Number.NEGATIVE_INFINITY;
  private probeAnswer: Outcome | null = null;
  private readonly warned = new Set<string>();
  private lastUpstreamCheck = 0;
  private lastListen = 0;
  private slowPassReported = false;
  /** When the last pass ended (local ms). */
  private lastPassEnd = 0;
  private nextWake: number | null = null;
  private morePending = false;
  private claimedLast = false;
  private readonly runtime: TargetRuntime;
  private readonly config: Config;
  private readonly options: ServeOptions;
  private readonly started: number;

  constructor(runtime: TargetRuntime, config: Config, options: ServeOptions, started: number) {
    this.runtime = runtime;
    this.config = config;
    this.options = options;
    this.started = started;
    this.summary = emptySummary(runtime.target.name, false);
    this.deadline = started + options.windowSeconds * 1000;
    this.waker = runtime.transport.waker();
    const { drain } = this.waker;
    if (this.windowed && drain) this.heads = { heads: new Heads(), drain: drain.bind(this.waker) };
  }

  private get windowed(): boolean {
    return this.options.windowSeconds > 0;
  }

  private get over(): boolean {
    return !this.windowed || Boolean(this.options.signal?.aborted) || Date.now() >= this.deadline;
  }

  async run(): Promise<TargetSummary> {
    try {
      for (;;) {
        await this.listen();
        this.waker.notified = false;
        await this.guardedPass();
        this.lastPassEnd = Date.now();
        if (this.over) break;
        await this.waitForWork();
        if (this.over) break;
      }
    } catch (error) {
      this.fail(`target failed: ${errorMessage(error)}`);
    } finally {
      await Promise.all(this.inflight);
      await this.waker.close();
      await this.dispatcher?.close();
    }
    const summary = this.summary;
    summary.errors = [...this.errors];
    if (summary.unjudged > 0) summary.warnings = [this.unjudgedMessage(summary.unjudged)];
    // Served means the target ended healthy: its last pass worked and Odoo took its last batch.
    summary.ok = this.healthy && !this.passFailed && summary.refused === null && !this.stuck;
    summary.durationMs = Date.now() - this.started;
    return summary;
  }

  private fail(message: string, fields?: Record<string, unknown>): void {
    if (!this.errors.has(message)) this.runtime.log.error(message, fields);
    this.errors.add(message);
  }

  private backOff(): void {
    this.backoff = Math.min(BACKOFF_MAX_MS, this.backoff === 0 ? BACKOFF_MS : this.backoff * 2);
    this.backoffUntil = Date.now() + this.backoff;
  }

  /** A pass whose failure is reported and backed off from, never thrown: the window goes on. */
  private async guardedPass(): Promise<void> {
    try {
      await this.pass();
      this.passFailed = false;
    } catch (error) {
      if (isLockTimeout(error)) {
        this.runtime.log.debug('pass skipped: another pass holds the baton or a row', { event: 'busy' });
        return;
      }
      this.passFailed = true;
      this.fail(`pass failed: ${errorMessage(error)}`);
      this.backOff();
    }
  }

  /**
   * The first pass probes and sweeps before it claims, so a refused target sends nothing and what the
   * sweep requeues is sent in the same pass (all a window-0 tick gets). Later passes do both after their
   * claim, at most every UPSTREAM_CHECK_MS and SWEEP_EVERY_MS: neither delays a pickup (the probe alone
   * took 6-20 ms a call in the throughput bench, pg_stat_statements), a verdict applies from the next
   * pass, and what a sweep requeues notifies, which wakes that pass.
   */
  private async pass(): Promise<void> {
    this.summary.passes += 1;
    const first = this.capabilities === null;
    if (first) await this.probeIfDue();
    if (this.mayServe()) {
      if (first) await this.sweepIfDue();
      if (Date.now() >= this.backoffUntil) await this.claimAndDispatch();
      if (!first) await this.sweepIfDue();
    }
    if (!first) await this.probeIfDue();
  }

  private async claimAndDispatch(): Promise<void> {
    const { transport, tree } = this.runtime;
    this.dispatcher ??= await openDispatcher(this.runtime, this.config);
    const passStarted = Date.now();
    const result = await claimPass(transport, tree, {
      indexes: this.indexes,
      throttles: this.throttles,
      heads: this.heads,
    });
    this.hintIfSlow(Date.now() - passStarted);
    this.summary.claimed += result.claimed.length;
    this.summary.replans += result.replans;
    this.nextWake = result.wakeAt === null ? null : result.wakeAt - result.now + Date.now();
    this.morePending = result.more;
    this.claimedLast = result.claimed.length > 0;
    if (result.claimed.length === 0) return;
    const batch = dispatchClaimed(this.dispatcher, transport, result.claimed)
      .then((report) => this.settle(report))
      .catch((error: unknown) => this.fail(`dispatch bookkeeping failed: ${errorMessage(error)}`));
    if (!this.windowed) return batch;
    this.inflight.add(batch);
    void batch.finally(() => this.inflight.delete(batch));
  }

  /**
   * The capability probe, at the first pass and every UPSTREAM_CHECK_MS after (the built-in runner and
   * module upgrades can start at any time; the rest is kept for the window).
   */
  private async probeIfDue(): Promise<void> {
    if (this.capabilities !== null && Date.now() - this.lastUpstreamCheck < UPSTREAM_CHECK_MS) return;
    this.lastUpstreamCheck = Date.now();
    const caps = await probe(this.runtime.transport, this.config.pgAppName);
    const first = this.capabilities === null;
    // The module and its tables do not change under a running Odoo: the first read holds.
    this.capabilities = first ? caps : { ...this.capabilities!, ...pick(caps) };
    const verdict = assess(this.capabilities);
    this.summary.series = this.capabilities.series;
    this.summary.queueJobVersion = this.capabilities.queueJob?.version ?? null;
    this.summary.upstreamRunner = verdict.reason === 'builtin_runner';
    this.summary.refused = verdict.refused;
    if (verdict.skipped !== null && this.summary.skipped === null) {
      if (verdict.stuck) this.fail(verdict.skipped, { event: 'modules_changing' });
      else this.runtime.log.warning(verdict.skipped, { event: 'modules_changing' });
    }
    this.summary.skipped = verdict.skipped ?? this.summary.skipped;
    this.current = verdict;
    if (first) this.runtime.log.debug('capabilities', { event: 'capabilities', ...this.capabilities });
  }

  /**
   * The last probe's verdict: nothing is swept or sent while the target is refused (unsupported module,
   * built-in runner) or its modules are changing.
   */
  private mayServe(): boolean {
    const verdict = this.current;
    if (verdict === null) return false;
    if (verdict.refused !== null) {
      this.fail(verdict.refused, { event: verdict.reason ?? 'refused' });
      return false;
    }
    if (verdict.stuck) this.stuck = true;
    return verdict.skipped === null;
  }

  private async sweepIfDue(): Promise<void> {
    if (Date.now() - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = Date.now();
    const { transport } = this.runtime;
    if (!this.detected) {
      this.indexes = await helperIndexesPresent(transport);
      this.detected = true;
    }
    const options: SweepOptions = {
      enqueuedTimeoutSeconds: this.config.enqueuedTimeoutSeconds,
      pgAppName: this.config.pgAppName,
      graceSeconds: this.config.startedGraceSeconds,
    };
    let swept = await sweep(transport, options, this.capabilities?.lockTable ?? null);
    this.record(swept);
    if (swept.unjudged > 0 && Date.now() - this.lastProbe >= PROBE_EVERY_MS) {
      // Dead started jobs may fill the capacity of an Odoo that holds no connection: nothing would be
      // dispatched, so Odoo would never open one. Make it open one, and judge again in this pass.
      this.lastProbe = Date.now();
      this.dispatcher ??= await openDispatcher(this.runtime, this.config);
      this.probeAnswer = await this.dispatcher.probe();
      this.runtime.log.info('asked Odoo to connect to the database, to judge started jobs', {
        event: 'liveness_probe',
        unjudged: swept.unjudged,
        probe: this.probeAnswer.kind,
      });
      swept = await sweep(transport, options, this.capabilities?.lockTable ?? null);
      this.record(swept);
    }
    this.summary.unjudged = swept.unjudged;
    if (swept.unjudged > 0) this.warn(this.unjudgedMessage(swept.unjudged), { unjudged: swept.unjudged });
  }

  private record(swept: SweepResult): void {
    const { log } = this.runtime;
    this.summary.liveness = swept.liveness;
    for (const job of swept.jobs) {
      if (job.from === 'enqueued') this.summary.swept.enqueued += 1;
      else if (job.state === 'failed') this.summary.swept.failed += 1;
      else this.summary.swept.started += 1;
      const what =
        job.from === 'enqueued'
          ? 'lost enqueued job requeued'
          : `dead started job ${job.state === 'failed' ? 'failed (JobFoundDead)' : 'requeued'}`;
      log.warning(what, { uuid: job.uuid, channel: job.channel, event: 'sweep' });
    }
  }

  private unjudgedMessage(count: number): string {
    return unjudgedWarning(
      count,
      this.config.pgAppName,
      this.probeAnswer,
      this.dispatcher?.endpoint.db ?? null,
      this.runtime.settings,
    );
  }

  /** Logged once per window and kind: the summary carries the last word (`run`). */
  private warn(message: string, fields: Record<string, unknown>): void {
    const kind = this.probeAnswer?.kind ?? 'none';
    if (this.warned.has(kind)) return;
    this.warned.add(kind);
    this.runtime.log.warning(message, { event: 'unjudged_started', probe: kind, ...fields });
  }

  private hintIfSlow(ms: number): void {
    if (this.indexes.all || this.slowPassReported || ms <= SLOW_PASS_MS) return;
    this.slowPassReported = true;
    this.runtime.log.warning(
      `a claim pass took ${ms} ms reading the pending backlog or a throttled channel's history; ` +
        'run `queue-job-runner optimize` to create the helper indexes (see README, "optimize")',
      { event: 'slow_pass' },
    );
  }

  private settle(report: DispatchReport): void {
    const { log } = this.runtime;
    for (const { job, outcome } of report.results) {
      if (outcome === null) continue;
      this.summary.outcomes[outcome.kind] += 1;
      if (delivered(outcome)) this.summary.dispatched += 1;
      if (outcome.kind === 'failed')
        log.warning('job failed in Odoo', { uuid: job.uuid, channel: job.channel, outcome: 'failed' });
      else log.debug('job dispatched', { uuid: job.uuid, channel: job.channel, outcome: outcome.kind });
    }
    this.summary.reverted += report.reverted.length;
    if (report.stoppedBy) {
      this.healthy = false;
      this.reportUnhealthy(report.stoppedBy, report.reverted.length);
      this.backOff();
      // A proxy answering 502-504 fronts a sleeping worker: a request to Odoo wakes it.
      if (report.stoppedBy.kind === 'unavailable') void this.dispatcher?.wake();
    } else if (report.results.some((r) => r.outcome !== null && delivered(r.outcome))) {
      this.healthy = true;
      this.backoff = 0;
    } else if (report.results.length > 0) {
      // Every connection dropped: do not spin claim/revert cycles against a flapping Odoo.
      this.backOff();
    }
  }

  private reportUnhealthy(outcome: Outcome, reverted: number): void {
    const message = explain(outcome);
    if (outcome.kind === 'unavailable') {
      this.runtime.log.warning(message, { outcome: outcome.kind, reverted });
      this.errors.add(message);
    } else this.fail(message, { outcome: outcome.kind, reverted });
  }

  /** (Re)opens the waker, at most once a second; polling covers the gaps. */
  private async listen(): Promise<void> {
    if (!this.windowed || this.waker.listening || Date.now() - this.lastListen < RELISTEN_MS) return;
    this.lastListen = Date.now();
    try {
      await this.waker.open();
    } catch (error) {
      this.runtime.log.warning(
        `LISTEN failed, polling every ${this.waker.pollMs / 1000} s meanwhile: ${errorMessage(error)}`,
      );
    }
  }

  /** Waits for the next reason to pass: a wake-up, the next eta or pause end, the poll, the back-off. */
  private async waitForWork(): Promise<void> {
    if (Date.now() < this.backoffUntil) {
      // Backing off: wake-ups do not shorten it.
      await pause(Math.min(this.backoffUntil, this.deadline), this.options.signal);
      return;
    }
    if (this.morePending) return;
    const wake = this.nextWake === null ? Number.POSITIVE_INFINITY : this.nextWake + 5;
    // Not listening (lost, or failed to open): come back when it may be reopened.
    const relisten = this.waker.listening ? Number.POSITIVE_INFINITY : this.lastListen + RELISTEN_MS;
    const poll = this.claimedLast ? this.waker.busyPollMs : this.waker.pollMs;
    const until = Math.min(this.deadline, Date.now() + poll, wake, relisten);
    await this.waker.wait(until, this.options.signal);
    const coalesceUntil = this.lastPassEnd + COALESCE_MS;
    if (this.waker.notified && this.inflight.size > 0 && Date.now() < coalesceUntil)
      await pause(coalesceUntil, this.options.signal);
  }
}

/** What can change while Odoo runs: a runner starting, modules being upgraded. */
function pick(caps: Capabilities): Partial<Capabilities> {
  return {
    advisoryLock: caps.advisoryLock,
    builtinRunner: caps.builtinRunner,
    modulesChanging: caps.modulesChanging,
    queueJob: caps.queueJob,
    at: caps.at,
  };
}
