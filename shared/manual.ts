/**
 * Manual runs ("run now"): named jobs, or a channel's due jobs, through the tick's own path: read the
 * jobs and the same state a pass reads, let the planner decide under the channel rules, claim under the
 * baton with the guarded UPDATE … SKIP LOCKED that proves the plan still holds (planned again when
 * another runner overtook it); then `dispatchClaimed` sends.
 *
 * Decisions:
 * - uuids: the operator named the jobs, so a pending job with a future eta runs now (the planner sees
 *   it as due and the claim drops the eta guard). A channel run takes only the channel's due jobs.
 * - ignoreCapacity: the planner is skipped (capacity, sequential and throttle rules alike); the claim
 *   stays guarded, so a job is still sent at most once. The baton is still taken so that concurrent
 *   passes count these claims.
 * - A paused target (channels `root:0`), one where upstream's runner is active, one whose module the
 *   capability probe refuses, or one whose modules are being upgraded is refused as a whole.
 */
import * as z from 'zod';
import { assess, probe } from './capabilities.ts';
import { normalizeChannel } from './channels.ts';
import {
  type ClaimedJob,
  claimPlanned,
  PASS_LIMIT,
  PLAN_ATTEMPTS,
  readPlanState,
  throttledChannels,
} from './claim.ts';
import type { Config } from './config.ts';
import { dispatchClaimed } from './dispatch.ts';
import { chooseTarget, InputError, issuesOf, UnknownChannelError } from './input.ts';
import type { Logger } from './log.ts';
import { explain, type OutcomeKind } from './outcome.ts';
import { type BlockedReason, type Candidate, plan } from './plan.ts';
import { errorMessage } from './redact.ts';
import * as sql from './sql.ts';
import { helperIndexesPresent, openDispatcher, openTarget, type TargetRuntime } from './target.ts';
import { query } from './transport.ts';

const uuid = z.string().trim().min(1).max(255);

export const manualRequestSchema = z
  .strictObject({
    target: z.string().trim().min(1).optional(),
    uuids: z.array(uuid).min(1).max(PASS_LIMIT).optional(),
    channel: z.string().trim().min(1).max(255).optional(),
    limit: z.int().min(1).max(PASS_LIMIT).optional(),
    ignoreCapacity: z.boolean().optional(),
  })
  .superRefine((request, ctx) => {
    if ((request.uuids === undefined) === (request.channel === undefined)) {
      ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of uuids or channel' });
    }
    if (request.uuids !== undefined && request.limit !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['limit'], message: 'limit applies to channel runs only' });
    }
  });

export type ManualRequest = z.output<typeof manualRequestSchema>;

/** Validates a request body (HTTP) or the CLI's options; throws InputError with zod's issues. */
export function parseManualRequest(input: unknown): ManualRequest {
  const parsed = manualRequestSchema.safeParse(input);
  if (!parsed.success) throw new InputError('invalid request', issuesOf(parsed.error));
  return parsed.data;
}

export type ManualResultKind =
  /** Odoo received it (outcome accepted, failed or running). */
  | 'dispatched'
  | 'not_found'
  /** Not pending (see `state`): nothing to run, or already running. */
  | 'not_pending'
  /** The channel (or an ancestor) is full. */
  | 'capacity_full'
  /** Another channel rule said no (see `reason`: paused, sequential_failed, sequential_eta, throttle). */
  | 'blocked'
  /** Planned, but another transaction held the row or it stopped being pending meanwhile. */
  | 'not_claimed'
  /** Claimed, but not sent: an earlier send found Odoo unhealthy; put back to pending. */
  | 'not_sent'
  /** The dispatch outcomes that put the job back to pending. */
  | Exclude<OutcomeKind, 'accepted' | 'failed' | 'running'>;

export interface ManualResult {
  uuid: string;
  channel: string | null;
  result: ManualResultKind;
  /** not_pending: the state the job is in. */
  state?: string;
  /** blocked / capacity_full: the channel that said no, and why. */
  blockedBy?: string;
  reason?: BlockedReason;
  /** dispatched: what Odoo answered. */
  outcome?: 'accepted' | 'failed' | 'running';
  /** A dispatch problem, in words an operator can act on. */
  detail?: string;
  /** Whether the guarded revert put it back to pending. */
  reverted?: boolean;
}

export interface ManualReport {
  target: string;
  /** Every claimed job reached Odoo, and nothing failed on the way. */
  ok: boolean;
  /**
   * The whole run was refused: the target is paused, upstream's runner holds the database, the probe
   * refused the module (version, columns), or Odoo is installing or upgrading modules.
   */
  refused: 'paused' | 'upstream_runner' | 'unsupported' | 'modules_changing' | null;
  error: string | null;
  uuids?: string[];
  channel?: string;
  limit?: number;
  ignoreCapacity: boolean;
  results: ManualResult[];
  counts: Partial<Record<ManualResultKind, number>>;
  claimed: number;
  dispatched: number;
  reverted: number;
  durationMs: number;
}

interface JobRow {
  id: number;
  uuid: string;
  channel: string | null;
  state: string;
  priority: number | null;
  dateCreated: number | null;
  eta: number | null;
}

/** What the transaction decided, before anything is sent. */
interface Decision {
  /** Every job looked at (named jobs in request order, or the channel's due jobs in OCA order). */
  results: Map<string, ManualResult>;
  claimed: ClaimedJob[];
}

function candidate(row: JobRow, runNow: boolean): Candidate {
  return {
    id: row.id,
    uuid: row.uuid,
    channel: row.channel,
    priority: row.priority,
    dateCreated: row.dateCreated,
    // A named job runs now: for the planner its eta has come.
    eta: runNow ? null : row.eta,
  };
}

/** The jobs a request names (uuids) or the channel's due jobs, with what is already decided about them. */
async function readRequested(runtime: TargetRuntime, request: ManualRequest) {
  const results = new Map<string, ManualResult>();
  // A uuid named twice is one job.
  const uuids = request.uuids && [...new Set(request.uuids)];
  if (uuids) {
    const rows = await query<JobRow>(runtime.transport, sql.jobsByUuid, [uuids]);
    const found = new Map(rows.map((row) => [row.uuid, row]));
    for (const uuid of uuids) {
      const row = found.get(uuid);
      if (!row) results.set(uuid, { uuid, channel: null, result: 'not_found' });
      else if (row.state !== 'pending')
        results.set(uuid, { uuid, channel: row.channel, result: 'not_pending', state: row.state });
    }
    return { uuids, rows, results };
  }
  const channel = normalizeChannel(request.channel);
  const rows = await query<JobRow>(runtime.transport, sql.dueInChannel, [
    channel,
    request.limit ?? PASS_LIMIT,
    sql.subtreePattern(channel),
  ]);
  return { uuids, rows, results };
}

/** Plans the candidates and claims what the plan chose; planned again when another runner overtook it. */
async function planAndClaim(
  runtime: TargetRuntime,
  request: ManualRequest,
  candidates: Candidate[],
  named: boolean,
) {
  const { transport, tree } = runtime;
  // Only a throttled channel's read has an index form worth a lookup here (`throttledSince`).
  const throttled = throttledChannels(tree).length > 0 && !request.ignoreCapacity;
  const indexes = throttled ? await helperIndexesPresent(transport) : undefined;
  for (let attempt = 1; ; attempt++) {
    if (request.ignoreCapacity) {
      const claim = await claimPlanned(transport, tree, candidates, { named, assumed: null });
      return { planned: candidates, blocked: [], claimed: claim.claimed };
    }
    const state = await readPlanState(transport, tree, indexes);
    const decided = plan({ tree, ...state, due: candidates, limit: candidates.length });
    if (decided.jobs.length === 0) return { planned: [], blocked: decided.blocked, claimed: [] };
    const claim = await claimPlanned(transport, tree, decided.jobs, { named, assumed: state, indexes });
    if (claim.holds || attempt >= PLAN_ATTEMPTS) {
      // Still overtaken after the last attempt: nothing claimed, each planned job reads not_claimed.
      return { planned: decided.jobs, blocked: decided.blocked, claimed: claim.claimed };
    }
  }
}

async function decide(runtime: TargetRuntime, request: ManualRequest): Promise<Decision> {
  const { uuids, rows, results } = await readRequested(runtime, request);
  const pending = rows.filter((row) => row.state === 'pending');
  const candidates = pending.map((row) => candidate(row, uuids !== undefined));
  if (candidates.length === 0) return { results, claimed: [] };

  const { planned, blocked, claimed } = await planAndClaim(runtime, request, candidates, uuids !== undefined);
  const refused = new Map(blocked.map((b) => [b.channel, b.reason]));
  const chosen = new Set(planned.map((job) => job.id));
  for (const job of candidates) {
    if (chosen.has(job.id)) continue;
    // The nearest channel that refused something this pass is the one that refused this job.
    const by = runtime.tree.limits(job.channel).find((c) => refused.has(c.name))?.name ?? 'root';
    const reason = refused.get(by) ?? 'capacity';
    results.set(job.uuid, {
      uuid: job.uuid,
      channel: job.channel,
      result: reason === 'capacity' ? 'capacity_full' : 'blocked',
      blockedBy: by,
      reason,
    });
  }
  const claimedIds = new Set(claimed.map((job) => job.id));
  for (const job of planned) {
    if (!claimedIds.has(job.id))
      results.set(job.uuid, { uuid: job.uuid, channel: job.channel, result: 'not_claimed' });
  }
  // Keep the order the caller can follow: request order for uuids, OCA order for a channel.
  const ordered = new Map<string, ManualResult>();
  const claimedUuids = new Set(claimed.map((job) => job.uuid));
  for (const key of uuids ?? rows.map((row) => row.uuid)) {
    const entry = results.get(key);
    if (entry) ordered.set(key, entry);
    else if (claimedUuids.has(key)) ordered.set(key, placeholder(key));
  }
  return { results: ordered, claimed };
}

/** Filled in once the dispatch outcome is known. */
function placeholder(uuid: string): ManualResult {
  return { uuid, channel: null, result: 'not_sent' };
}

function emptyReport(target: string, request: ManualRequest): ManualReport {
  return {
    target,
    ok: true,
    refused: null,
    error: null,
    ...(request.uuids ? { uuids: request.uuids } : {}),
    ...(request.channel ? { channel: normalizeChannel(request.channel) } : {}),
    ...(request.limit ? { limit: request.limit } : {}),
    ignoreCapacity: request.ignoreCapacity ?? false,
    results: [],
    counts: {},
    claimed: 0,
    dispatched: 0,
    reverted: 0,
    durationMs: 0,
  };
}

/**
 * Runs a validated manual request. Throws InputError / UnknownTargetError for a bad target; everything
 * that goes wrong on the target itself is in the report (`ok: false`, `error`), never thrown.
 */
export async function manualDispatch(
  config: Config,
  log: Logger,
  request: ManualRequest,
): Promise<ManualReport> {
  const started = Date.now();
  const target = chooseTarget(config, request.target);
  const report = emptyReport(target.name, request);
  const runtime = openTarget(target, log, config);
  const tlog = runtime.log.child({ event: 'manual_dispatch' });
  try {
    let why: string | null = null;
    if (target.paused) {
      report.refused = 'paused';
      why = PAUSED;
    } else {
      const verdict = assess(await probe(runtime.transport, config.pgAppName));
      if (verdict.refused !== null) {
        report.refused = verdict.reason === 'builtin_runner' ? 'upstream_runner' : 'unsupported';
        why = verdict.refused;
      } else if (verdict.skipped !== null) {
        report.refused = 'modules_changing';
        why = verdict.skipped;
      }
    }
    if (report.refused && why !== null) {
      report.ok = false;
      report.error = why;
      tlog.error(why, { refused: report.refused });
    } else {
      if (request.channel !== undefined) await checkChannelKnown(runtime, target, request.channel);
      await run(runtime, config, request, report, tlog);
    }
  } catch (error) {
    // The caller's mistake, not the target's failure: answered 404 / exit status 2.
    if (error instanceof UnknownChannelError) throw error;
    report.ok = false;
    report.error = `manual dispatch failed: ${errorMessage(error)}`;
    tlog.error(report.error);
  } finally {
    await runtime.close();
  }
  for (const entry of report.results) report.counts[entry.result] = (report.counts[entry.result] ?? 0) + 1;
  report.durationMs = Date.now() - started;
  tlog.info('manual dispatch done', {
    ok: report.ok,
    claimed: report.claimed,
    dispatched: report.dispatched,
    reverted: report.reverted,
    durationMs: report.durationMs,
  });
  return report;
}

/**
 * A channel run must name a configured channel or one that holds jobs (a sub-channel taken from the jobs,
 * as upstream does); the status counts are read only for a channel that is not configured.
 */
async function checkChannelKnown(runtime: TargetRuntime, target: Config['targets'][number], raw: string) {
  const channel = normalizeChannel(raw);
  const configured = target.channels.map((c) => c.name);
  if (configured.includes(channel)) return;
  const rows = await query<{ channel: string }>(runtime.transport, sql.channelStatus);
  const held = rows.some((row) => {
    const name = normalizeChannel(row.channel);
    return name === channel || name.startsWith(`${channel}.`);
  });
  if (!held) throw new UnknownChannelError(target.name, channel, configured);
}

const PAUSED = 'channels start with root:0 (the runner is disabled for this target): nothing is dispatched';

async function run(
  runtime: TargetRuntime,
  config: Config,
  request: ManualRequest,
  report: ManualReport,
  log: Logger,
): Promise<void> {
  // The Odoo URL is resolved before claiming: a target without one claims nothing.
  const dispatcher = await openDispatcher(runtime, config);
  try {
    const decision = await decide(runtime, request);
    const sent = await dispatchClaimed(dispatcher, runtime.transport, decision.claimed);
    const reverted = new Set(sent.reverted);
    for (const { job, outcome } of sent.results) {
      const entry: ManualResult = { uuid: job.uuid, channel: job.channel, result: 'not_sent' };
      if (outcome === null) entry.reverted = reverted.has(job.uuid);
      else if (outcome.kind === 'accepted' || outcome.kind === 'failed' || outcome.kind === 'running') {
        entry.result = 'dispatched';
        entry.outcome = outcome.kind;
      } else {
        entry.result = outcome.kind;
        entry.detail = explain(outcome);
        entry.reverted = reverted.has(job.uuid);
      }
      decision.results.set(job.uuid, entry);
      const level = entry.result === 'dispatched' && outcome?.kind !== 'failed' ? 'info' : 'warning';
      log[level]('manual dispatch', {
        uuid: job.uuid,
        channel: job.channel,
        outcome: outcome?.kind ?? 'not_sent',
      });
    }
    report.results = [...decision.results.values()];
    report.claimed = decision.claimed.length;
    report.dispatched = report.results.filter((r) => r.result === 'dispatched').length;
    report.reverted = sent.reverted.length;
    if (sent.stoppedBy) {
      report.ok = false;
      report.error = explain(sent.stoppedBy);
      log.error(report.error, { outcome: sent.stoppedBy.kind, reverted: report.reverted });
    }
  } finally {
    await dispatcher.close();
  }
}
