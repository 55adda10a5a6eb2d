// The planner: which pending jobs one claim pass takes. It mirrors upstream's recursive
// `Channel.get_jobs_to_run` (contract 3.4) flattened into one greedy walk over the due jobs in OCA
// order, for a runner that keeps no jobs in memory between passes. Pure: no I/O, no clock.

import { type ChannelConfig, type ChannelTree, normalizeChannel } from './channels.ts';

/** A pending job as the pass read it; times are epoch ms UTC. */
export interface Candidate {
  id: number;
  uuid: string;
  channel: string | null;
  priority: number | null;
  dateCreated: number | null;
  eta: number | null;
}

export interface PlanInput {
  tree: ChannelTree;
  /** epoch ms */
  now: number;
  /** raw channel value ('' for NULL) → jobs in enqueued+started */
  running: ReadonlyMap<string, number>;
  /** normalized channel names having at least one `failed` job (only sequential ones matter) */
  failedChannels: ReadonlySet<string>;
  /** pending jobs with eta NULL or <= now (any order; may be only each channel's head) */
  due: readonly Candidate[];
  /** pending jobs with eta > now that matter for the sequential eta rule (e.g. each channel's earliest-eta one) */
  waiting: readonly Candidate[];
  /** throttled channel name → epoch ms before which it yields nothing */
  pausedUntil: ReadonlyMap<string, number>;
  /** at most this many jobs in one plan */
  limit: number;
}

export type BlockedReason = 'paused' | 'capacity' | 'sequential_failed' | 'sequential_eta' | 'throttle';

export interface Plan {
  /** to claim, in dispatch order */
  jobs: Candidate[];
  /** input pauses still running, plus new ones for throttled channels that yielded now */
  pausedUntil: Map<string, number>;
  /** for status/debug, one per channel: the first reason it refused a job this pass */
  blocked: { channel: string; reason: BlockedReason }[];
}

/** Upstream's default priority, for rows whose priority is NULL. */
const DEFAULT_PRIORITY = 10;

/**
 * OCA order: (priority, date_created, id) ascending, NULL priority as 10. A NULL date_created sorts
 * after every date, as PostgreSQL's `ORDER BY date_created` does, so the SQL that picks the candidates
 * and this planner agree (Odoo always fills the column; upstream would not even compare a None).
 */
export function compareJobs(a: Candidate, b: Candidate): number {
  const byPriority = (a.priority ?? DEFAULT_PRIORITY) - (b.priority ?? DEFAULT_PRIORITY);
  if (byPriority !== 0) return byPriority;
  if (a.dateCreated !== b.dateCreated) {
    if (a.dateCreated === null) return 1;
    if (b.dateCreated === null) return -1;
    return a.dateCreated - b.dateCreated;
  }
  return a.id - b.id;
}

/** Upstream's eta heap order: earliest eta first, then OCA order. */
function compareWaiting(a: Candidate, b: Candidate): number {
  return (a.eta ?? 0) - (b.eta ?? 0) || compareJobs(a, b);
}

export function plan(input: PlanInput): Plan {
  const { tree, now } = input;

  // A job whose eta has come is due whichever list it arrived in; one still in the future only waits.
  const due: Candidate[] = [];
  const waiting: Candidate[] = [];
  const seen = new Set<number>();
  for (const job of [...input.due, ...input.waiting]) {
    if (seen.has(job.id)) continue; // overlapping reads must not plan a job twice
    seen.add(job.id);
    (job.eta !== null && job.eta > now ? waiting : due).push(job);
  }
  due.sort(compareJobs);

  // Upstream keeps a sequential channel's own future jobs in its eta heap; only the heap's top matters.
  const waitingHead = new Map<string, Candidate>();
  for (const job of waiting) {
    const name = normalizeChannel(job.channel);
    if (!tree.channel(name)?.sequential) continue;
    const head = waitingHead.get(name);
    if (!head || compareWaiting(job, head) < 0) waitingHead.set(name, job);
  }

  // A running job occupies its channel and every ancestor (upstream `set_running` is recursive).
  const used = runningByChannel(tree, input.running);
  const occupy = (chain: readonly ChannelConfig[]) => {
    for (const channel of chain) used.set(channel.name, (used.get(channel.name) ?? 0) + 1);
  };

  // A pause that has ended is dropped, as upstream resets `_pause_until`, so no one wakes up for it.
  const pausedUntil = new Map<string, number>();
  for (const [name, until] of input.pausedUntil) if (now < until) pausedUntil.set(name, until);

  // Upstream decides the eta rule once per pass, against the head of the sequential channel's queue:
  // the first job in OCA order that the channels below it let through.
  const etaBlocked = new Map<string, boolean>();
  const blocked = new Map<string, BlockedReason>();

  /** Why `channel` refuses `job` now, or null when it lets it through. Checks in upstream's order. */
  function refusal(channel: ChannelConfig, job: Candidate): BlockedReason | null {
    // 18.0 `paused`: the channel yields nothing, so nothing below it reaches root either.
    if (channel.paused) return 'paused';
    if (channel.throttle > 0 && now < (pausedUntil.get(channel.name) ?? 0)) return 'throttle';
    // Only a failed job of the channel itself blocks it: upstream keeps failed jobs in their own channel.
    if (channel.sequential && input.failedChannels.has(channel.name)) return 'sequential_failed';
    if (channel.capacity !== null && (used.get(channel.name) ?? 0) >= channel.capacity) return 'capacity';
    if (channel.sequential) {
      let waits = etaBlocked.get(channel.name);
      if (waits === undefined) {
        const head = waitingHead.get(channel.name);
        waits = head !== undefined && compareJobs(head, job) < 0;
        etaBlocked.set(channel.name, waits);
      }
      if (waits) return 'sequential_eta';
    }
    return null;
  }

  const jobs: Candidate[] = [];
  for (const job of due) {
    if (jobs.length >= input.limit) break;
    const chain = tree.limits(job.channel);
    // Nearest first, stopping at the first refusal: a channel only sees what its sub-channels yield.
    let refused = false;
    for (const channel of chain) {
      const reason = refusal(channel, job);
      if (reason === null) continue;
      if (!blocked.has(channel.name)) blocked.set(channel.name, reason);
      refused = true;
      break;
    }
    if (refused) continue;
    jobs.push(job);
    occupy(chain);
    // Throttle: a channel that yielded pauses, so it yields at most one job per pass and per N seconds.
    for (const channel of chain) {
      if (channel.throttle > 0) pausedUntil.set(channel.name, now + channel.throttle * 1000);
    }
  }

  return {
    jobs,
    pausedUntil,
    blocked: [...blocked].map(([channel, reason]) => ({ channel, reason })),
  };
}

/** Running jobs per configured channel, sub-channels included (a job counts in every ancestor). */
export function runningByChannel(
  tree: ChannelTree,
  running: ReadonlyMap<string, number>,
): Map<string, number> {
  const totals = new Map<string, number>();
  for (const [raw, n] of running) {
    for (const channel of tree.limits(raw)) totals.set(channel.name, (totals.get(channel.name) ?? 0) + n);
  }
  return totals;
}

/**
 * Configured channels that cannot yield any job now: paused (18.0 option), full, sequential with a
 * failed job, or paused by throttle. Their whole subtree can be left out of the candidate read; when root is closed, nothing
 * needs reading at all.
 */
export function closedChannels(
  tree: ChannelTree,
  running: ReadonlyMap<string, number>,
  failedChannels: ReadonlySet<string>,
  pausedUntil: ReadonlyMap<string, number>,
  now: number,
): ChannelConfig[] {
  const totals = runningByChannel(tree, running);
  return [...tree.configured.values()].filter(
    (channel) =>
      channel.paused === true ||
      (channel.capacity !== null && (totals.get(channel.name) ?? 0) >= channel.capacity) ||
      (channel.sequential && failedChannels.has(channel.name)) ||
      (channel.throttle > 0 && (pausedUntil.get(channel.name) ?? 0) > now),
  );
}
