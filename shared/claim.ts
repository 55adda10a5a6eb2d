/**
 * One claim pass on one database (design, "One claim pass"): in a single short transaction, take the
 * baton, read the state the plan needs, plan in TypeScript, claim the planned rows with the guarded
 * UPDATE … SKIP LOCKED, commit. Nothing is sent from here: only rows this commit claimed may be sent.
 */
import type pg from 'pg';
import type { ChannelTree } from './channels.ts';
import { type Timeouts, transaction } from './database.ts';
import { type Candidate, closedChannels, plan, runningByChannel } from './plan.ts';
import * as sql from './sql.ts';

/** A job this runner moved to `enqueued`: it must now be sent, or reverted. */
export interface ClaimedJob {
  id: number;
  uuid: string;
  channel: string | null;
}

export interface ClaimResult {
  claimed: ClaimedJob[];
  /** Database clock at the pass, epoch ms. */
  now: number;
  /** When time alone may make more jobs runnable (earliest eta, end of a throttle pause); null = never. */
  wakeAt: number | null;
  /** Planned jobs another transaction held (SKIP LOCKED) or that stopped being pending. */
  skipped: number;
  /** Whether the baton was the root channel row (false: the advisory-lock fallback was used). */
  rootBaton: boolean;
  /** Whether another pass right away may claim more (the claim hit the pass limit). */
  more: boolean;
}

/** Most jobs one pass claims: bounds the transaction and the memory of one plan. */
export const PASS_LIMIT = 1000;

interface PassStateRow {
  now: number;
  running: { channel: string; n: number }[];
  failed: string[];
  waiting: Candidate[];
  throttled: { name: string; lastEnqueued: number }[];
}

/**
 * Takes the baton. The root channel row is Odoo's own (queue_job.channel_root) and always present on
 * a working install; without it (a damaged or partial schema) a transaction advisory lock serializes
 * passes the same way, so capacity still holds.
 */
export async function takeBaton(client: pg.PoolClient): Promise<boolean> {
  const root = await client.query(sql.baton);
  if (root.rowCount && root.rowCount > 0) return true;
  await client.query(sql.batonFallback);
  return false;
}

function toCandidate(row: Candidate): Candidate {
  return {
    id: row.id,
    uuid: row.uuid,
    channel: row.channel,
    priority: row.priority,
    dateCreated: row.dateCreated,
    eta: row.eta,
  };
}

/** What a plan needs besides its candidates, read inside the baton's transaction. */
export interface PlanState {
  /** Database clock, epoch ms. */
  now: number;
  running: Map<string, number>;
  failedChannels: Set<string>;
  waiting: Candidate[];
  pausedUntil: Map<string, number>;
  /** Per throttled channel, the second (epoch ms) its subtree last had a job enqueued. */
  lastEnqueued: Map<string, number>;
}

/**
 * A process's own throttle pauses, exact to the millisecond. The table only knows date_enqueued to the
 * second, so a pause read from it is padded by one second; when the last claim in a throttled channel
 * was this process's, its exact end is used instead (one job per N seconds, as upstream).
 */
export type ThrottleMemory = Map<string, { second: number; until: number }>;

export async function readPlanState(client: pg.PoolClient, tree: ChannelTree): Promise<PlanState> {
  const configured = [...tree.configured.values()];
  const throttled = configured.filter((c) => c.throttle > 0);
  const { rows } = await client.query<PassStateRow>({
    ...sql.passState,
    values: [
      configured.filter((c) => c.sequential).map((c) => c.name),
      throttled.map((c) => c.name),
      throttled.map((c) => sql.subtreePattern(c.name)),
      throttled.map((c) => c.throttle),
      configured.filter((c) => c.sequentialDefault).map((c) => c.name),
    ],
  });
  const state = rows[0]!;
  const pausedUntil = new Map<string, number>();
  for (const entry of state.throttled) {
    const channel = tree.configured.get(entry.name);
    // date_enqueued is truncated to the second: add one so a pause never ends early.
    if (channel) pausedUntil.set(entry.name, entry.lastEnqueued + 1000 + channel.throttle * 1000);
  }
  return {
    now: state.now,
    running: new Map(state.running.map((r) => [r.channel, r.n])),
    failedChannels: new Set(state.failed),
    waiting: state.waiting.map(toCandidate),
    pausedUntil,
    lastEnqueued: new Map(state.throttled.map((entry) => [entry.name, entry.lastEnqueued])),
  };
}

export async function claimPass(
  pool: pg.Pool,
  tree: ChannelTree,
  timeouts: Timeouts,
  limit = PASS_LIMIT,
  /** Whether the optional helper indexes exist (`queue-job-runner optimize`): picks the cheaper read. */
  indexed = false,
  throttles?: ThrottleMemory,
): Promise<ClaimResult> {
  return transaction(pool, timeouts, async (client) => {
    const rootBaton = await takeBaton(client);
    const state = await readPlanState(client, tree);
    const { now, running, failedChannels, waiting, pausedUntil } = state;
    for (const [name, mine] of throttles ?? []) {
      if (state.lastEnqueued.get(name) === mine.second) pausedUntil.set(name, mine.until);
    }

    // Read candidates only from channels that can take a job: when root is full, nothing at all.
    const closed = closedChannels(tree, running, failedChannels, pausedUntil, now);
    const rootFree =
      tree.root.capacity === null
        ? limit
        : tree.root.capacity - (runningByChannel(tree, running).get('root') ?? 0);
    let due: Candidate[] = [];
    let nextEta: number | null = null;
    if (!closed.some((c) => c.name === 'root') && rootFree > 0) {
      const eta = await client.query<{ eta: number }>(sql.nextEta);
      nextEta = eta.rows[0]?.eta ?? null;
      // No channel can take more than root's free room in one pass: that many per raw channel.
      const rows = Math.min(limit, rootFree);
      const read = await client.query<Candidate>({
        ...(indexed ? sql.candidatesByIndex : sql.candidatesByScan),
        values: [
          rows,
          closed.flatMap((c) => sql.spellings(c.name)),
          closed.flatMap((c) => sql.spellings(c.name).map(sql.subtreePattern)),
        ],
      });
      due = read.rows;
    }

    const planned = plan({ tree, now, running, failedChannels, due, waiting, pausedUntil, limit });

    let claimed: ClaimedJob[] = [];
    if (planned.jobs.length > 0) {
      const result = await client.query<ClaimedJob>({
        ...sql.claim,
        values: [planned.jobs.map((job) => job.id)],
      });
      // Dispatch in plan order (OCA order), whatever order RETURNING used.
      const order = new Map(planned.jobs.map((job, index) => [job.id, index]));
      claimed = result.rows.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
    }
    // Remember the exact pause of every throttled channel a claimed job passed through.
    for (const job of claimed) {
      for (const channel of tree.limits(job.channel)) {
        if (channel.throttle > 0) {
          throttles?.set(channel.name, {
            second: Math.floor(now / 1000) * 1000,
            until: now + channel.throttle * 1000,
          });
        }
      }
    }

    const pauseEnds = [...planned.pausedUntil.values()].filter((at) => at > now);
    const wakeTimes = [...pauseEnds, ...(nextEta === null ? [] : [nextEta])];
    return {
      claimed,
      now,
      wakeAt: wakeTimes.length > 0 ? Math.min(...wakeTimes) : null,
      skipped: planned.jobs.length - claimed.length,
      rootBaton,
      // The claim hit the pass limit: the next pass may find more right away.
      more: claimed.length >= limit,
    };
  });
}
