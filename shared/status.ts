/**
 * Status of each target, read-only: per configured channel, jobs by state, running vs capacity, the
 * oldest due pending job's age, the next eta and the dead-job candidates the sweep would act on; per
 * target, whether upstream's runner holds the database and which liveness signal `started` jobs have.
 * It writes nothing. When started jobs wait for a signal that is not visible, it asks Odoo to connect
 * (one runjob GET for no job, as the tick does; `liveness.ts`) and says what is wrong if that fails.
 *
 * Every raw channel found in the table is counted under its nearest configured channel (as the planner
 * governs it), so the channels' job counts add up to the target's; `running` is the channel's whole
 * subtree, which is what its capacity limits. Done and cancelled jobs are not counted (unbounded history).
 */
import { assess, type ChangingModule, probe, type RunnerSession } from './capabilities.ts';
import { type ChannelConfig, type ChannelTree, normalizeChannel } from './channels.ts';
import { type Config, describeReach, type Target } from './config.ts';
import { selectTargets } from './input.ts';
import { unjudgedWarning } from './liveness.ts';
import type { Logger } from './log.ts';
import { errorMessage } from './redact.ts';
import * as sql from './sql.ts';
import { type Liveness, liveness } from './sweep.ts';
import { helperIndexesPresent, openDispatcher, openTarget } from './target.ts';
import { query, type Transport } from './transport.ts';

/** The states status counts, in the order they are shown. */
export const STATUS_STATES = ['wait_dependencies', 'pending', 'enqueued', 'started', 'failed'] as const;

export interface ChannelStatus {
  /** Complete name of a configured channel. */
  channel: string;
  /** null = unlimited. */
  capacity: number | null;
  sequential: boolean;
  throttle: number;
  /** 18.0 `paused`: the channel and its sub-channels yield nothing while it is set. */
  paused: boolean;
  /** 18.0 `capacity_default` / `sequential_default` for auto-created sub-channels, when configured. */
  capacityDefault?: number | null;
  sequentialDefault?: boolean;
  /** enqueued + started in this channel and its sub-channels: what the capacity limits. */
  running: number;
  /** Jobs whose nearest configured channel is this one, by state. */
  jobs: Record<string, number>;
  /** Age of the oldest pending job whose eta has come, seconds on the database clock. */
  oldestPendingAgeSeconds: number | null;
  /** Earliest future eta of a pending job, ISO 8601 UTC. */
  nextEta: string | null;
  /** Jobs the next sweep would recover: enqueued too long, started with a worker that looks gone. */
  deadCandidates: { enqueued: number; started: number };
  /** Channels found in the table that this configured channel governs (normalized names). */
  rawChannels: string[];
}

export interface TargetStatus {
  target: string;
  /** The database answered every read. */
  ok: boolean;
  error: string | null;
  /** Host, port and database only. */
  database: string;
  paused: boolean;
  /** null when the database could not be read. */
  upstreamRunner: boolean | null;
  /** What the capability probe found (null when the database could not be read). */
  capabilities: {
    series: string | null;
    queueJobVersion: string | null;
    queueJobState: string | null;
    baseVersion: string | null;
    lockTable: string | null;
    advisoryLock: boolean;
    builtinRunnerSessions: RunnerSession[];
    missingColumns: string[];
    modulesChanging: ChangingModule[];
    /** The tick refuses this target (and why), or null. */
    refused: string | null;
    /** The tick skips this database for now (modules changing), or null. */
    skipped: string | null;
  } | null;
  /** The signal that tells a dead `started` job: lock_table, connections, or none (they are left alone). */
  liveness: Liveness | null;
  /** Whether every optional helper index of `optimize` exists and is valid. */
  helperIndexes: boolean | null;
  channels: ChannelStatus[];
  deadCandidates: {
    enqueued: number;
    started: number;
    /**
     * Started jobs past the grace that no signal can judge (liveness none, even after Odoo was asked
     * to connect): they hold capacity; reported, never touched.
     */
    unjudged: number;
  };
  /** What needs attention: started jobs no signal can judge, and why (which setting to check). */
  warnings: string[];
  /** The database clock when read, ISO 8601. */
  at: string | null;
  durationMs: number;
}

export interface StatusReport {
  ok: boolean;
  targets: TargetStatus[];
  durationMs: number;
}

interface ChannelStatusRow {
  channel: string;
  state: string;
  n: number;
  oldestPending: string | number | null;
  nextEta: string | number | null;
}

interface CountRow {
  channel: string;
  n: number;
}

function emptyChannel(config: ChannelConfig) {
  const channel: ChannelStatus = {
    channel: config.name,
    capacity: config.capacity,
    sequential: config.sequential,
    throttle: config.throttle,
    paused: config.paused === true,
    ...(config.capacityDefault !== undefined ? { capacityDefault: config.capacityDefault } : {}),
    ...(config.sequentialDefault ? { sequentialDefault: true } : {}),
    running: 0,
    jobs: Object.fromEntries(STATUS_STATES.map((state) => [state, 0])),
    oldestPendingAgeSeconds: null,
    nextEta: null,
    deadCandidates: { enqueued: 0, started: 0 },
    rawChannels: [],
  };
  return channel;
}

function emptyTarget(target: Target): TargetStatus {
  return {
    target: target.name,
    ok: true,
    error: null,
    database: describeReach(target),
    paused: target.paused,
    upstreamRunner: null,
    capabilities: null,
    liveness: null,
    helperIndexes: null,
    channels: [],
    deadCandidates: { enqueued: 0, started: 0, unjudged: 0 },
    warnings: [],
    at: null,
    durationMs: 0,
  };
}

async function deadStarted(
  transport: Transport,
  config: Config,
  signal: Liveness,
  lockTable: string | null,
): Promise<CountRow[]> {
  if (signal === 'connections') {
    return query<CountRow>(transport, sql.deadStartedByConnectionByChannel, [
      config.startedGraceSeconds,
      config.pgAppName,
    ]);
  }
  if (signal === 'lock_table') {
    const statement =
      lockTable === 'queue_job_locks' ? sql.deadStartedByLocksByChannel : sql.deadStartedByLockByChannel;
    // Lockability can only be learnt by locking: the lock-table check runs in a unit rolled back.
    const [rows] = await transport.run([{ statement, values: [config.startedGraceSeconds] }], {
      rollback: true,
    });
    return (rows ?? []) as unknown as CountRow[];
  }
  return [];
}

/** Started jobs waiting for a signal (none in force): what the sweep leaves alone. */
async function unjudgedStarted(transport: Transport, config: Config, signal: Liveness): Promise<number> {
  if (signal !== 'none') return 0;
  const rows = await query<{ n: number }>(transport, sql.startedUnjudged, [
    config.startedGraceSeconds,
    config.pgAppName,
  ]);
  return Number(rows[0]?.n ?? 0);
}

function channelsOf(tree: ChannelTree): Map<string, ChannelStatus> {
  const names = [...tree.configured.keys()].sort((a, b) =>
    a === 'root' ? -1 : b === 'root' ? 1 : a < b ? -1 : 1,
  );
  return new Map(names.map((name) => [name, emptyChannel(tree.configured.get(name)!)]));
}

function aggregate(
  tree: ChannelTree,
  now: number,
  rows: ChannelStatusRow[],
  deadEnqueued: CountRow[],
  deadStartedRows: CountRow[],
): ChannelStatus[] {
  const channels = channelsOf(tree);
  const nearest = (raw: string) => channels.get(tree.limits(raw)[0]!.name)!;
  for (const row of rows) {
    const channel = nearest(row.channel);
    channel.jobs[row.state] = (channel.jobs[row.state] ?? 0) + row.n;
    const name = normalizeChannel(row.channel);
    if (!channel.rawChannels.includes(name)) channel.rawChannels.push(name);
    if (row.state === 'enqueued' || row.state === 'started') {
      for (const limit of tree.limits(row.channel)) channels.get(limit.name)!.running += row.n;
    }
    if (row.oldestPending !== null) {
      const age = Math.max(0, Math.round((now - Number(row.oldestPending)) / 1000));
      channel.oldestPendingAgeSeconds = Math.max(channel.oldestPendingAgeSeconds ?? 0, age);
    }
    if (row.nextEta !== null) {
      const eta = Number(row.nextEta);
      if (channel.nextEta === null || eta < Date.parse(channel.nextEta))
        channel.nextEta = new Date(eta).toISOString();
    }
  }
  for (const row of deadEnqueued) nearest(row.channel).deadCandidates.enqueued += row.n;
  for (const row of deadStartedRows) nearest(row.channel).deadCandidates.started += row.n;
  for (const channel of channels.values()) channel.rawChannels.sort();
  return [...channels.values()];
}

async function targetStatus(target: Target, config: Config, log: Logger): Promise<TargetStatus> {
  const started = Date.now();
  const status = emptyTarget(target);
  const runtime = openTarget(target, log, config);
  const { transport, tree } = runtime;
  try {
    const [caps, clock, rows, enqueued, indexes] = await Promise.all([
      probe(transport, config.pgAppName),
      query<{ now: number }>(transport, sql.databaseNow),
      query<ChannelStatusRow>(transport, sql.channelStatus),
      query<CountRow>(transport, sql.deadEnqueuedByChannel, [config.enqueuedTimeoutSeconds]),
      helperIndexesPresent(transport),
    ]);
    const { lockTable } = caps;
    let signal = await liveness(transport, config.pgAppName, lockTable);
    let unjudged = await unjudgedStarted(transport, config, signal);
    if (unjudged > 0) {
      // As the tick does: an Odoo holding no connection is asked to open one, then judged again.
      const dispatcher = await openDispatcher(runtime, config);
      try {
        const answer = await dispatcher.probe();
        signal = await liveness(transport, config.pgAppName, lockTable);
        unjudged = await unjudgedStarted(transport, config, signal);
        if (unjudged > 0) {
          status.warnings.push(
            unjudgedWarning(unjudged, config.pgAppName, answer, dispatcher.endpoint.db, runtime.settings),
          );
        }
      } finally {
        await dispatcher.close();
      }
    }
    const started_ = await deadStarted(transport, config, signal, lockTable);
    const now = clock[0]!.now;
    const verdict = assess(caps);
    status.capabilities = {
      series: caps.series,
      queueJobVersion: caps.queueJob?.version ?? null,
      queueJobState: caps.queueJob?.state ?? null,
      baseVersion: caps.baseVersion,
      lockTable: caps.lockTable,
      advisoryLock: caps.advisoryLock,
      builtinRunnerSessions: caps.builtinRunner,
      missingColumns: caps.missingColumns,
      modulesChanging: caps.modulesChanging,
      refused: verdict.refused,
      skipped: verdict.skipped,
    };
    status.upstreamRunner = verdict.reason === 'builtin_runner';
    status.liveness = signal;
    status.helperIndexes = indexes.all;
    status.at = new Date(now).toISOString();
    status.channels = aggregate(tree, now, rows, enqueued, started_);
    status.deadCandidates.enqueued = enqueued.reduce((n, row) => n + row.n, 0);
    status.deadCandidates.started = started_.reduce((n, row) => n + row.n, 0);
    status.deadCandidates.unjudged = unjudged;
  } catch (error) {
    status.ok = false;
    status.error = `status failed: ${errorMessage(error)}`;
    runtime.log.error(status.error, { event: 'status' });
  } finally {
    await runtime.close();
  }
  status.durationMs = Date.now() - started;
  return status;
}

/** Reads every (or the named) target's status in parallel; throws UnknownTargetError for a bad name. */
export async function collectStatus(
  config: Config,
  log: Logger,
  options: { targets?: readonly string[] } = {},
): Promise<StatusReport> {
  const started = Date.now();
  const chosen = selectTargets(config, options.targets);
  const targets = await Promise.all(chosen.map((target) => targetStatus(target, config, log)));
  const report = { ok: targets.every((t) => t.ok), targets, durationMs: Date.now() - started };
  log.debug('status read', { event: 'status', ok: report.ok, durationMs: report.durationMs });
  return report;
}
