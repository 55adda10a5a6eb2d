/**
 * Status of each target, read-only: per configured channel, jobs by state, running vs capacity, the
 * oldest due pending job's age, the next eta and the dead-job candidates the sweep would act on; per
 * target, whether upstream's runner holds the database and which liveness signal `started` jobs have.
 *
 * Every raw channel found in the table is counted under its nearest configured channel (as the planner
 * governs it), so the channels' job counts add up to the target's; `running` is the channel's whole
 * subtree, which is what its capacity limits. Done and cancelled jobs are not counted (unbounded history).
 */
import type pg from 'pg';
import { type ChannelConfig, type ChannelTree, normalizeChannel } from './channels.ts';
import { type Config, describeDatabaseUrl, type Target } from './config.ts';
import { defaultTimeouts } from './database.ts';
import { selectTargets } from './input.ts';
import type { Logger } from './log.ts';
import { errorMessage } from './redact.ts';
import * as sql from './sql.ts';
import { findLockTable, type Liveness, liveness } from './sweep.ts';
import { helperIndexesPresent, openTarget, upstreamRunnerActive } from './target.ts';

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
  /** The signal that tells a dead `started` job: lock_table, connections, or none (they are left alone). */
  liveness: Liveness | null;
  /** Whether every optional helper index of `optimize` exists and is valid. */
  helperIndexes: boolean | null;
  channels: ChannelStatus[];
  deadCandidates: {
    enqueued: number;
    started: number;
    /** Started jobs no signal can judge (liveness none): reported, never touched. */
    unjudged: number;
  };
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
    database: describeDatabaseUrl(target.databaseUrl),
    paused: target.paused,
    upstreamRunner: null,
    liveness: null,
    helperIndexes: null,
    channels: [],
    deadCandidates: { enqueued: 0, started: 0, unjudged: 0 },
    at: null,
    durationMs: 0,
  };
}

/** Lockability can only be learnt by locking: the lock-table check runs in a transaction rolled back. */
async function rolledBack<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query(sql.begin(defaultTimeouts.lockTimeoutMs, defaultTimeouts.statementTimeoutMs));
    return await work(client);
  } finally {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    client.release(broken);
  }
}

async function deadStarted(
  pool: pg.Pool,
  config: Config,
  signal: Liveness,
  lockTable: string | null,
): Promise<CountRow[]> {
  if (signal === 'connections') {
    const { rows } = await pool.query<CountRow>(sql.deadStartedByConnectionByChannel, [
      config.startedGraceSeconds,
      config.pgAppName,
    ]);
    return rows;
  }
  if (signal === 'lock_table') {
    const text =
      lockTable === 'queue_job_locks' ? sql.deadStartedByLocksByChannel : sql.deadStartedByLockByChannel;
    return rolledBack(
      pool,
      async (client) => (await client.query<CountRow>(text, [config.startedGraceSeconds])).rows,
    );
  }
  return [];
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
  const runtime = openTarget(target, log);
  const { pool, tree } = runtime;
  try {
    const [upstream, lockTable, clock, rows, enqueued, indexes] = await Promise.all([
      upstreamRunnerActive(pool),
      findLockTable(pool),
      pool.query<{ now: number }>(sql.databaseNow),
      pool.query<ChannelStatusRow>(sql.channelStatus),
      pool.query<CountRow>(sql.deadEnqueuedByChannel, [config.enqueuedTimeoutSeconds]),
      helperIndexesPresent(pool),
    ]);
    const signal = await liveness(pool, config.pgAppName, lockTable);
    const started_ = await deadStarted(pool, config, signal, lockTable);
    const now = clock.rows[0]!.now;
    status.upstreamRunner = upstream;
    status.liveness = signal;
    status.helperIndexes = indexes;
    status.at = new Date(now).toISOString();
    status.channels = aggregate(tree, now, rows.rows, enqueued.rows, started_);
    status.deadCandidates.enqueued = enqueued.rows.reduce((n, row) => n + row.n, 0);
    status.deadCandidates.started = started_.reduce((n, row) => n + row.n, 0);
    if (signal === 'none') {
      status.deadCandidates.unjudged = rows.rows
        .filter((r) => r.state === 'started')
        .reduce((n, r) => n + r.n, 0);
    }
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
