/**
 * One claim pass on one database (design, "One claim pass"): read the state the plan needs, plan in
 * TypeScript, then claim the planned rows under the baton with the guarded UPDATE … SKIP LOCKED, in
 * one short transaction that first proves what the plan assumed still holds (`sql.claim`). The read
 * and the claim are separate units (through the bridge, separate requests), so a claim whose proof
 * fails claims nothing and the pass plans again from a fresh read, a bounded number of times. Nothing
 * is sent from here: only rows a committed claim returned may be sent.
 */
import type { ChannelConfig, ChannelTree } from './channels.ts';
import { type Changes, HEADS_DEPTH, type Heads } from './heads.ts';
import { type Candidate, closedChannels, plan, runningByChannel } from './plan.ts';
import * as sql from './sql.ts';
import { type Call, query, type Transport } from './transport.ts';

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
  /** Whether the baton was the root channel row (false: the advisory-lock fallback; null: no claim tried). */
  rootBaton: boolean | null;
  /** Whether another pass right away may claim more (the claim hit the pass limit, or stayed stale). */
  more: boolean;
  /** Claims whose proof failed (another runner claimed meanwhile) and were planned again. */
  replans: number;
}

/** Most jobs one pass claims: bounds the transaction and the memory of one plan. */
export const PASS_LIMIT = 1000;

/**
 * Plans per pass before it gives up and lets the next pass try: each stale claim means another runner
 * claimed in between, so the loser's next plan sees those claims.
 */
export const PLAN_ATTEMPTS = 3;

interface PassStateRow {
  now: number;
  running: { channel: string; n: number }[];
  failed: string[];
  waiting: Candidate[];
  throttled: { name: string; lastEnqueued: number }[];
  due: boolean;
  nextEta: number | null;
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

/** What a plan needs besides its candidates. */
export interface PlanState {
  /** Database clock, epoch ms. */
  now: number;
  /** Running jobs (enqueued + started) per raw channel: the claim proves none of these grew. */
  running: Map<string, number>;
  failedChannels: Set<string>;
  waiting: Candidate[];
  pausedUntil: Map<string, number>;
  /** Per throttled channel, the second (epoch ms) its subtree last had a job enqueued. */
  lastEnqueued: Map<string, number>;
  /** Whether any pending job is due at all. */
  due: boolean;
  /** The earliest future eta, epoch ms; null when none, or when root is full (not read then). */
  nextEta: number | null;
}

/**
 * A process's own throttle pauses, exact to the millisecond. The table only knows date_enqueued to the
 * second, so a pause read from it is padded by one second; when the last claim in a throttled channel
 * was this process's, its exact end is used instead (one job per N seconds, as upstream).
 */
export type ThrottleMemory = Map<string, { second: number; until: number }>;

/** The configured channels with a throttle. */
export function throttledChannels(tree: ChannelTree) {
  return [...tree.configured.values()].filter((c) => c.throttle > 0);
}

function sequentialNames(tree: ChannelTree): string[] {
  return [...tree.configured.values()].filter((c) => c.sequential).map((c) => c.name);
}

/** Channels with 18.0's `sequential_default`: their auto-created children are sequential. */
function sequentialParents(tree: ChannelTree): string[] {
  return [...tree.configured.values()].filter((c) => c.sequentialDefault).map((c) => c.name);
}

function passStateCall(tree: ChannelTree, readEta: boolean, indexes: PassIndexes): Call {
  const throttled = throttledChannels(tree);
  return {
    statement: indexes.throttle ? sql.passStateByIndex : sql.passState,
    values: [
      sequentialNames(tree),
      throttled.map((c) => c.name),
      throttled.map((c) => sql.subtreePattern(c.name)),
      throttled.map((c) => c.throttle),
      sequentialParents(tree),
      // The next eta is read only while fewer jobs than this run: 0 never (a window's heads know it).
      readEta ? tree.root.capacity : 0,
    ],
  };
}

function toPlanState(tree: ChannelTree, state: PassStateRow): PlanState {
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
    due: state.due,
    nextEta: state.nextEta,
  };
}

export async function readPlanState(
  transport: Transport,
  tree: ChannelTree,
  indexes: PassIndexes = NO_INDEXES,
): Promise<PlanState> {
  const [rows] = await transport.run([passStateCall(tree, true, indexes)]);
  return toPlanState(tree, rows![0] as unknown as PassStateRow);
}

export interface ClaimOptions {
  /** Named jobs run now: no eta guard. */
  named?: boolean;
  /** null: claim without proving anything (a manual run that ignores capacity). */
  assumed: PlanState | null;
  /** Which helper indexes exist: the throttle proof uses the date_enqueued one when it does. */
  indexes?: PassIndexes;
}

/** Which optional helper indexes the pass's reads may use (`helperIndexesPresent`). */
export interface PassIndexes {
  candidates: boolean;
  throttle: boolean;
}

const NO_INDEXES: PassIndexes = { candidates: false, throttle: false };

function claimStatementFor(named: boolean, indexes: PassIndexes): sql.Statement {
  if (named) return indexes.throttle ? sql.claimNamedByIndex : sql.claimNamed;
  return indexes.throttle ? sql.claimByIndex : sql.claim;
}

/** Takes the baton and claims `ids` if `assumed` still holds; `holds` false means nothing was claimed. */
export async function claimPlanned(
  transport: Transport,
  tree: ChannelTree,
  jobs: readonly Pick<Candidate, 'id' | 'channel'>[],
  options: ClaimOptions,
): Promise<{ holds: boolean; claimed: ClaimedJob[]; rootBaton: boolean; now: number }> {
  const ids = jobs.map((job) => job.id);
  const { assumed } = options;
  const throttled = throttledChannels(tree);
  const running = [...(assumed?.running ?? new Map<string, number>())];
  const [baton, claim] = await transport.run([
    { statement: sql.baton },
    {
      statement: claimStatementFor(options.named ?? false, options.indexes ?? NO_INDEXES),
      values: [
        ids,
        running.map(([channel]) => channel),
        running.map(([, n]) => n),
        sequentialNames(tree),
        [...(assumed?.failedChannels ?? [])],
        throttled.map((c) => c.name),
        throttled.map((c) => sql.subtreePattern(c.name)),
        throttled.map((c) => c.throttle),
        throttled.map((c) => assumed?.lastEnqueued.get(c.name) ?? null),
        assumed !== null,
        sequentialParents(tree),
        jobs.map((job) => job.channel),
      ],
    },
  ]);
  const row = claim![0] as { holds: boolean; claimed: ClaimedJob[]; now: number };
  // Dispatch in plan order (OCA order), whatever order RETURNING used.
  const order = new Map(ids.map((id, index) => [id, index]));
  const claimed = row.claimed.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
  return { holds: row.holds, claimed, rootBaton: Boolean(baton![0]?.rootBaton), now: row.now };
}

/** How a pass reads and claims; a window passes its heads, a single pass nothing. */
export interface PassOptions {
  /** Most jobs claimed (PASS_LIMIT). */
  limit?: number;
  /** Which optional helper indexes exist (`queue-job-runner optimize`): picks the cheaper reads. */
  indexes?: PassIndexes;
  throttles?: ThrottleMemory;
  /** A window's heads and what its waker heard since the last pass (`heads.ts`). */
  heads?: { heads: Heads; drain(): Changes };
}

/** What a pass read: the plan's state, its candidates, and the next eta to wake up for. */
interface PassRead {
  state: PlanState;
  due: Candidate[];
  nextEta: number | null;
}

export async function claimPass(
  transport: Transport,
  tree: ChannelTree,
  options: PassOptions = {},
): Promise<ClaimResult> {
  const { limit = PASS_LIMIT, throttles, heads } = options;
  try {
    for (let attempt = 1; ; attempt++) {
      const { state, due, nextEta } = await readPass(transport, tree, options);
      const { now, running, failedChannels, waiting, pausedUntil } = state;
      const planned = plan({ tree, now, running, failedChannels, due, waiting, pausedUntil, limit });
      const pauseEnds = [...planned.pausedUntil.values()].filter((at) => at > now);
      const wakeTimes = [...pauseEnds, ...(nextEta === null ? [] : [nextEta])];
      const result: ClaimResult = {
        claimed: [],
        now,
        wakeAt: wakeTimes.length > 0 ? Math.min(...wakeTimes) : null,
        skipped: 0,
        rootBaton: null,
        more: false,
        replans: attempt - 1,
      };
      if (planned.jobs.length === 0) return result;

      const claim = await claimPlanned(transport, tree, planned.jobs, {
        assumed: state,
        indexes: options.indexes,
      });
      result.rootBaton = claim.rootBaton;
      if (!claim.holds) {
        // Another runner claimed since the read: plan again from what it left.
        if (attempt < PLAN_ATTEMPTS) continue;
        return { ...result, more: true };
      }
      heads?.heads.claimed(claim.claimed.map((job) => job.id));
      result.claimed = claim.claimed;
      result.skipped = planned.jobs.length - claim.claimed.length;
      // The claim hit the pass limit: the next pass may find more right away.
      result.more = claim.claimed.length >= limit;
      remember(throttles, tree, claim);
      return result;
    }
  } catch (error) {
    // Notifications this pass drained may not have been applied: the next pass reads in full.
    heads?.heads.reset();
    throw error;
  }
}

/**
 * The read half of a pass: the plan's state (with the rows of the jobs notified since the last pass,
 * in the same unit, when the heads are warm), then candidates from the heads, or read from the
 * backlog (filling the heads, in a window) when they cannot say. Candidates are read only from
 * channels that can take a job: when root is full, not at all.
 */
async function readPass(transport: Transport, tree: ChannelTree, options: PassOptions): Promise<PassRead> {
  const { limit = PASS_LIMIT, indexes = NO_INDEXES, throttles } = options;
  const heads = options.heads?.heads;
  let uuids: string[] = [];
  if (heads) {
    const changes = options.heads!.drain();
    if (!changes.complete || heads.stale(Date.now())) heads.reset();
    else uuids = changes.uuids;
  }
  const warm = heads?.warm ?? false;
  const calls: Call[] = [passStateCall(tree, !warm, indexes)];
  if (uuids.length > 0) calls.push({ statement: sql.jobsByUuid, values: [uuids] });
  const [stateRows, changed] = await transport.run(calls);
  const state = toPlanState(tree, stateRows![0] as unknown as PassStateRow);
  for (const [name, mine] of throttles ?? []) {
    if (state.lastEnqueued.get(name) === mine.second) state.pausedUntil.set(name, mine.until);
  }
  if (heads && uuids.length > 0) {
    const rows = (changed ?? []) as unknown as (Candidate & { state: string })[];
    heads.update(uuids, rows.filter((row) => row.state === 'pending').map(toCandidate), state.now);
  }

  const { now, running, failedChannels, pausedUntil } = state;
  const closed = closedChannels(tree, running, failedChannels, pausedUntil, now);
  const rootFree =
    tree.root.capacity === null
      ? limit
      : tree.root.capacity - (runningByChannel(tree, running).get('root') ?? 0);
  const rootOpen = !closed.some((c) => c.name === 'root') && rootFree > 0;
  const need = Math.min(limit, rootFree);
  if (!heads) {
    const due =
      state.due && rootOpen ? await readCandidates(transport, indexes.candidates, need, closed) : [];
    return { state, due, nextEta: state.nextEta };
  }
  if (!warm && !state.due && rootFree > 0) {
    // Nothing is due and the next eta was read: that is all the heads need to know.
    heads.fill([], HEADS_DEPTH, state.nextEta, now, Date.now());
  }
  if (!state.due || !rootOpen) return { state, due: [], nextEta: heads.warm ? heads.wakeAt : state.nextEta };
  const isOpen = openTo(tree, closed);
  let due = heads.warm ? heads.take(need, isOpen) : null;
  if (due === null) {
    // Every channel, closed ones too: the heads must know them when they open.
    const nextEta = heads.warm ? heads.wakeAt : state.nextEta;
    const depth = Math.max(HEADS_DEPTH, 2 * need);
    const rows = await readCandidates(transport, indexes.candidates, depth, []);
    heads.fill(rows.map(toCandidate), depth, nextEta, now, Date.now());
    due = heads.take(need, isOpen) ?? [];
  }
  return { state, due, nextEta: heads.wakeAt };
}

/** The first `perChannel` due pending jobs of each raw channel, the subtrees of `closed` left out. */
function readCandidates(
  transport: Transport,
  indexed: boolean,
  perChannel: number,
  closed: readonly ChannelConfig[],
): Promise<Candidate[]> {
  return query<Candidate>(transport, indexed ? sql.candidatesByIndex : sql.candidatesByScan, [
    perChannel,
    closed.flatMap((c) => sql.spellings(c.name)),
    closed.flatMap((c) => sql.spellings(c.name).map(sql.subtreePattern)),
  ]);
}

/** Whether a raw channel's jobs may be planned: none of its limiting channels is closed. */
function openTo(tree: ChannelTree, closed: readonly ChannelConfig[]): (channel: string | null) => boolean {
  if (closed.length === 0) return () => true;
  const names = new Set(closed.map((c) => c.name));
  return (channel) => !tree.limits(channel).some((c) => names.has(c.name));
}

/**
 * Remembers the exact pause of every throttled channel a claimed job passed through, on the claim's
 * clock: date_enqueued is the claim transaction's second.
 */
function remember(
  throttles: ThrottleMemory | undefined,
  tree: ChannelTree,
  claim: { claimed: ClaimedJob[]; now: number },
): void {
  for (const job of claim.claimed) {
    for (const channel of tree.limits(job.channel)) {
      if (channel.throttle > 0) {
        throttles?.set(channel.name, {
          second: Math.floor(claim.now / 1000) * 1000,
          until: claim.now + channel.throttle * 1000,
        });
      }
    }
  }
}
