// Watches the jobs run, from outside the runner: when each job was claimed (its NOTIFY, heard on a
// connection of our own), when its runjob request reached the stand-in, and when it ended. Times are
// taken in this process (hiRes) as the events arrive, a fraction of a millisecond after their commit.
import pg from 'pg';
import type { ChannelTree } from '../../shared/channels.ts';
import type { OdooStandin, RecordedRequest } from '../../test/support/odoo.ts';
import { hiRes } from '../stats.ts';

export interface Attempt {
  /** When we learnt of the claim (its NOTIFY), or the request time if that came first; see resolveClaims. */
  claimAt: number;
  requestAt: number;
  /** The stand-in found the job `enqueued` and ran it (false: not taken). */
  taken: boolean;
  /** When the stand-in answered, after committing the job's new state; null while running. */
  finishedAt: number | null;
  /** The state the stand-in left the row in: done, failed, pending (postponed). */
  finalState: string | null;
  /** After a postponement: the new eta, read back from the row (epoch ms). */
  retryEta: number | null;
}

export class Recorder {
  /** uuid → runjob requests for it, in arrival order. */
  readonly attempts = new Map<string, Attempt[]>();
  /** uuid → arrival times of every notification about it (Odoo's trigger fires on each change). */
  private readonly notified = new Map<string, number[]>();
  private readonly byRecord = new Map<RecordedRequest, Attempt>();
  private readonly pending = new Set<Promise<void>>();
  private readonly listener: pg.Client;
  private readonly detach: () => void;

  private constructor(odoo: OdooStandin, pool: pg.Pool, listener: pg.Client) {
    this.listener = listener;
    listener.on('notification', (message) => {
      if (!message.payload) return;
      const times = this.notified.get(message.payload) ?? [];
      times.push(hiRes());
      this.notified.set(message.payload, times);
    });
    const onRequest = (record: RecordedRequest) => {
      if (record.path !== '/queue_job/runjob' || !record.uuid) return;
      const requestAt = hiRes();
      const attempt: Attempt = {
        claimAt: requestAt,
        requestAt,
        taken: false,
        finishedAt: null,
        finalState: null,
        retryEta: null,
      };
      this.byRecord.set(record, attempt);
      const list = this.attempts.get(record.uuid) ?? [];
      list.push(attempt);
      this.attempts.set(record.uuid, list);
    };
    const onStarted = (record: RecordedRequest) => {
      const attempt = this.byRecord.get(record);
      if (attempt) attempt.taken = true;
    };
    const onFinished = (record: RecordedRequest) => {
      const attempt = this.byRecord.get(record);
      if (!attempt) return;
      this.byRecord.delete(record);
      attempt.finishedAt = hiRes();
      attempt.finalState = record.finalState ?? null;
      if (record.finalState === 'pending' && record.uuid) {
        // Postponed: the job becomes runnable again at its new eta; read it before the next try.
        const read = pool
          .query<{ eta: number }>(
            `SELECT extract(epoch FROM eta) * 1000 AS eta FROM queue_job WHERE uuid = $1`,
            [record.uuid],
          )
          .then(({ rows }) => {
            attempt.retryEta = rows[0] ? Number(rows[0].eta) : null;
          })
          .catch(() => {});
        this.pending.add(read);
        void read.finally(() => this.pending.delete(read));
      }
    };
    odoo.events.on('request', onRequest);
    odoo.events.on('started', onStarted);
    odoo.events.on('finished', onFinished);
    this.detach = () => {
      odoo.events.off('request', onRequest);
      odoo.events.off('started', onStarted);
      odoo.events.off('finished', onFinished);
    };
  }

  static async start(odoo: OdooStandin, pool: pg.Pool, databaseUrl: string): Promise<Recorder> {
    const listener = new pg.Client({ connectionString: databaseUrl, application_name: 'qjr-demo-recorder' });
    // The server going away (Ctrl-C reaches it too) must not crash the demo before it cleans up.
    listener.on('error', () => {});
    await listener.connect();
    await listener.query('LISTEN queue_job');
    return new Recorder(odoo, pool, listener);
  }

  /**
   * Finds each try's claim among the job's notifications. A job's row changes, each change one
   * notification, in a fixed order: created, (released from wait_dependencies,) then per try claimed,
   * started, ended (done, failed or postponed). The claim of try k is thus notification
   * `first + 3k`, where `first` is 1, or 2 for a job released from a dependency. A notification heard
   * after the request (a busy machine delays delivery) counts as the request time: later than the true
   * claim, so slots look held for less time and latencies come out longer, never shorter.
   */
  resolveClaims(firstClaim: (uuid: string) => number): void {
    for (const [uuid, list] of this.attempts) {
      const times = this.notified.get(uuid) ?? [];
      let k = 0;
      for (const attempt of list) {
        if (!attempt.taken) continue;
        const heard = times[firstClaim(uuid) + 3 * k] ?? attempt.requestAt;
        attempt.claimAt = Math.min(heard, attempt.requestAt);
        k += 1;
      }
    }
  }

  /**
   * Per configured channel with a capacity, the times a slot opened: a job of the channel (or of a
   * sub-channel) ended while the channel was full. A job holds its slot from its claim to its end, as
   * the runner counts it (enqueued + started).
   */
  slotsFreed(tree: ChannelTree, channelOf: (uuid: string) => string | undefined): Map<string, number[]> {
    const moves: { at: number; delta: 1 | -1; channels: string[] }[] = [];
    for (const [uuid, list] of this.attempts) {
      const channels = tree
        .limits(channelOf(uuid))
        .filter((limit) => limit.capacity !== null)
        .map((limit) => limit.name);
      for (const attempt of list) {
        moves.push({ at: attempt.claimAt, delta: 1, channels });
        if (attempt.finishedAt !== null) moves.push({ at: attempt.finishedAt, delta: -1, channels });
      }
    }
    // Ends before claims at the same instant: a slot freed and taken at once was free.
    moves.sort((a, b) => a.at - b.at || a.delta - b.delta);
    const held = new Map<string, number>();
    const freed = new Map<string, number[]>();
    for (const move of moves) {
      for (const name of move.channels) {
        const before = held.get(name) ?? 0;
        const capacity = tree.configured.get(name)?.capacity ?? Number.POSITIVE_INFINITY;
        if (move.delta < 0 && before >= capacity) {
          const times = freed.get(name) ?? [];
          times.push(move.at);
          freed.set(name, times);
        }
        held.set(name, before + move.delta);
      }
    }
    return freed;
  }

  async settle(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  async close(): Promise<void> {
    this.detach();
    await this.listener.end().catch(() => {});
  }
}

/** Last of the sorted `times` at or before `at`, or -Infinity. */
export function lastBefore(times: readonly number[] | undefined, at: number): number {
  if (!times || times.length === 0) return Number.NEGATIVE_INFINITY;
  let low = 0;
  let high = times.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (times[mid]! <= at) low = mid + 1;
    else high = mid;
  }
  return low === 0 ? Number.NEGATIVE_INFINITY : times[low - 1]!;
}
