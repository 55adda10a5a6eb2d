/**
 * What a window knows, between its passes, of each raw channel's due pending jobs: the channel's head
 * in OCA order (design, "The window"). Without it every pass re-reads and re-ranks the whole pending
 * backlog; measured (bench/pass.ts, 100 k pending in 8 channels, no helper indexes, idle 2-core
 * machine) that read is 360 ms of a 366 ms claiming pass, against 6.8 ms for the whole pass at 1 k
 * pending. With heads a pass reads the backlog in full only when it must (`stale`, `take`), and
 * otherwise reads only the jobs Odoo's NOTIFY named since the last pass (their uuids, `update`).
 *
 * Heads are knowledge, never permission: the claim re-checks every planned row under the baton (still
 * pending, still due, still in the channel the plan counted it in: `sql.claim`), so a stale head can
 * only make a pass skip a job, never claim one it must not. Pure: no I/O; times are the caller's.
 */
import { type Candidate, compareJobs } from './plan.ts';

/** What the window heard since it last asked: notified uuids, and whether that is everything. */
export interface Changes {
  uuids: string[];
  /** False when a notification may have been missed (not listening, reconnected, overflowed). */
  complete: boolean;
}

/**
 * Jobs read per raw channel when the heads are filled. A channel holding more than this is known only
 * up to it; once fewer are left than a pass may take from it, the heads are read again. The read costs
 * about the same at any depth, since it ranks every pending row first (bench/pass.ts, 100 k pending in
 * 8 channels, no helper indexes, three runs: depth 200 307, 557 and 298 ms, depth 2,000 458, 524 and
 * 329 ms), and a
 * deeper one refills far less often: with root:200 a busy channel is read again after about 1,800
 * claims instead of 200. Memory: about 150 bytes a job, 2.4 MB for 8 busy channels.
 */
export const HEADS_DEPTH = 2000;

/**
 * The heads are read in full at least this often (local ms), for changes no notification reports: rows
 * written with triggers disabled (`session_replication_role = replica`), a database without queue_job's
 * trigger. Each such read costs what a pass without heads costs (0.3-0.6 s at 100 k pending, above):
 * every 10 s that is at most 6 % of one database core, against all of it for a window re-reading the
 * backlog on every pass.
 */
export const HEADS_REFRESH_MS = 10_000;

interface Head {
  /** Due pending jobs, in OCA order. */
  jobs: Candidate[];
  /** Whether these are all of the channel's due pending jobs (false: more may follow the last). */
  complete: boolean;
}

export class Heads {
  private readonly channels = new Map<string | null, Head>();
  private readonly byId = new Map<number, Candidate>();
  private readonly byUuid = new Map<string, Set<number>>();
  /** Local ms after which a pass must read in full (the refresh period, or the next eta come due). */
  private refreshBy: number | null = null;
  /** The earliest future eta of a pending job known (database clock, epoch ms); null: none. */
  private nextEta: number | null = null;
  /** Database clock minus local clock at the last fill, to turn an eta into a local deadline. */
  private skew = 0;
  /** Full reads so far (window start included): what tests and the bench count. */
  fills = 0;
  private readonly refreshMs: number;

  constructor(refreshMs = HEADS_REFRESH_MS) {
    this.refreshMs = refreshMs;
  }

  /** Whether the heads hold usable knowledge (filled, not reset since). */
  get warm(): boolean {
    return this.refreshBy !== null;
  }

  /** The earliest future eta known, database clock: what the window wakes up for. */
  get wakeAt(): number | null {
    return this.nextEta;
  }

  /** Whether a pass at local time `at` must read in full first: never filled, or past `refreshBy`. */
  stale(at: number): boolean {
    return this.refreshBy === null || at >= this.refreshBy;
  }

  /** Forgets everything: the next pass reads in full. */
  reset(): void {
    this.channels.clear();
    this.byId.clear();
    this.byUuid.clear();
    this.refreshBy = null;
    this.nextEta = null;
  }

  /**
   * Replaces the heads with a full read: `rows` are the first `depth` due pending jobs of every raw
   * channel (a channel that returned fewer is complete). `nextEta` is the earliest future eta the same
   * pass read; `now` the database clock and `at` the local clock of that read.
   */
  fill(rows: readonly Candidate[], depth: number, nextEta: number | null, now: number, at: number): void {
    this.reset();
    for (const row of rows) {
      let head = this.channels.get(row.channel);
      if (!head) {
        head = { jobs: [], complete: true };
        this.channels.set(row.channel, head);
      }
      head.jobs.push(row);
      this.index(row);
    }
    for (const head of this.channels.values()) {
      head.jobs.sort(compareJobs);
      head.complete = head.jobs.length < depth;
    }
    this.skew = now - at;
    this.nextEta = nextEta;
    this.refreshBy = at + this.refreshMs;
    this.schedule();
    this.fills += 1;
  }

  /**
   * Applies notifications: every job named in `uuids` is dropped, then `rows` (the pending ones among
   * them, as read after the notifications arrived) are put back where they now belong. A row beyond
   * the known part of an incomplete channel is left out: the channel is read again before that part
   * is needed. A future eta only moves the next wake-up.
   */
  update(uuids: readonly string[], rows: readonly Candidate[], now: number): void {
    if (!this.warm) return;
    for (const uuid of uuids) {
      for (const id of this.byUuid.get(uuid) ?? []) this.drop(id);
    }
    for (const row of rows) {
      if (row.eta !== null && row.eta > now) {
        if (this.nextEta === null || row.eta < this.nextEta) {
          this.nextEta = row.eta;
          this.schedule();
        }
        continue;
      }
      this.insert(row);
    }
  }

  /** Forgets jobs a claim moved out of pending. */
  claimed(ids: Iterable<number>): void {
    for (const id of ids) this.drop(id);
  }

  /**
   * Up to `need` due jobs of each raw channel `open` admits, in OCA order; null when an open channel
   * may hold more due jobs than the heads know and fewer than `need` are known: read in full first.
   */
  take(need: number, open: (channel: string | null) => boolean): Candidate[] | null {
    const taken: Candidate[] = [];
    for (const [channel, head] of this.channels) {
      if (!open(channel)) continue;
      if (!head.complete && head.jobs.length < need) return null;
      for (let i = 0; i < head.jobs.length && i < need; i++) taken.push(head.jobs[i]!);
    }
    return taken;
  }

  /** Jobs known, all channels: memory is bounded by HEADS_DEPTH per channel. */
  get size(): number {
    return this.byId.size;
  }

  private schedule(): void {
    if (this.refreshBy === null) return;
    const period = this.refreshBy;
    const eta = this.nextEta === null ? Number.POSITIVE_INFINITY : this.nextEta - this.skew;
    this.refreshBy = Math.min(period, eta);
  }

  private insert(row: Candidate): void {
    this.drop(row.id);
    let head = this.channels.get(row.channel);
    if (!head) {
      // Absent from the last full read: the channel had no due pending job then, so all are known.
      head = { jobs: [], complete: true };
      this.channels.set(row.channel, head);
    }
    const { jobs } = head;
    const last = jobs[jobs.length - 1];
    if (!head.complete && (last === undefined || compareJobs(row, last) > 0)) return;
    jobs.splice(position(jobs, row), 0, row);
    this.index(row);
  }

  private index(row: Candidate): void {
    this.byId.set(row.id, row);
    let ids = this.byUuid.get(row.uuid);
    if (!ids) {
      ids = new Set();
      this.byUuid.set(row.uuid, ids);
    }
    ids.add(row.id);
  }

  private drop(id: number): void {
    const row = this.byId.get(id);
    if (!row) return;
    this.byId.delete(id);
    const ids = this.byUuid.get(row.uuid);
    ids?.delete(id);
    if (ids?.size === 0) this.byUuid.delete(row.uuid);
    const head = this.channels.get(row.channel);
    if (!head) return;
    const at = position(head.jobs, row);
    if (head.jobs[at]?.id === id) head.jobs.splice(at, 1);
  }
}

/** Where `row` sits (or would sit) in `jobs`, sorted in OCA order: binary search. */
function position(jobs: readonly Candidate[], row: Candidate): number {
  let low = 0;
  let high = jobs.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (compareJobs(jobs[mid]!, row) < 0) low = mid + 1;
    else high = mid;
  }
  return low;
}
