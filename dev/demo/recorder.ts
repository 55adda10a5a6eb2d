// Watches the Odoo stand-in as the jobs run: when each runjob request arrived, when each job started
// and ended, and when a full channel got a free slot. Timestamps are taken in this process (hiRes) as
// the stand-in's events fire, which is within a fraction of a millisecond of the commit they follow.
import type pg from 'pg';
import type { ChannelTree } from '../../shared/channels.ts';
import type { OdooStandin, RecordedRequest } from '../../test/support/odoo.ts';
import { hiRes } from '../stats.ts';

export interface Attempt {
  requestAt: number;
  /** The stand-in found the job `enqueued` and ran it (false: not taken). */
  taken: boolean;
  finishedAt: number | null;
  /** The state the stand-in left the row in: done, failed, pending (postponed). */
  finalState: string | null;
  /** After a postponement: the new eta, read back from the row (epoch ms). */
  retryEta: number | null;
}

export class Recorder {
  /** uuid → runjob requests for it, in arrival order. */
  readonly attempts = new Map<string, Attempt[]>();
  /** Configured channel → times a job ended while that channel was full (a slot opened). */
  readonly slotFreed = new Map<string, number[]>();
  private readonly byRecord = new Map<RecordedRequest, Attempt>();
  private readonly occupancy = new Map<string, number>();
  private readonly pending = new Set<Promise<void>>();
  private readonly detach: () => void;

  constructor(odoo: OdooStandin, tree: ChannelTree, pool: pg.Pool) {
    const onRequest = (record: RecordedRequest) => {
      if (record.path !== '/queue_job/runjob' || !record.uuid) return;
      const attempt: Attempt = {
        requestAt: hiRes(),
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
      if (!attempt) return;
      attempt.taken = true;
      for (const limit of tree.limits(record.channel)) {
        this.occupancy.set(limit.name, (this.occupancy.get(limit.name) ?? 0) + 1);
      }
    };
    const onFinished = (record: RecordedRequest) => {
      const attempt = this.byRecord.get(record);
      if (!attempt) return;
      this.byRecord.delete(record);
      const at = hiRes();
      attempt.finishedAt = at;
      attempt.finalState = record.finalState ?? null;
      if (!attempt.taken) return;
      for (const limit of tree.limits(record.channel)) {
        const before = this.occupancy.get(limit.name) ?? 0;
        // Only running jobs are visible here, not claimed-but-not-started ones, so a channel can be full
        // for the runner without looking full here: slots are then under-counted, never over-counted.
        if (limit.capacity !== null && before >= limit.capacity) {
          const list = this.slotFreed.get(limit.name) ?? [];
          list.push(at);
          this.slotFreed.set(limit.name, list);
        }
        this.occupancy.set(limit.name, before - 1);
      }
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

  /** Last time before `at` that a slot opened in `channel`, or -Infinity. */
  lastSlotFreed(channel: string, at: number): number {
    const list = this.slotFreed.get(channel);
    if (!list || list.length === 0) return Number.NEGATIVE_INFINITY;
    // Binary search: times are appended in order.
    let low = 0;
    let high = list.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (list[mid]! <= at) low = mid + 1;
      else high = mid;
    }
    return low === 0 ? Number.NEGATIVE_INFINITY : list[low - 1]!;
  }

  async settle(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  close(): void {
    this.detach();
  }
}
