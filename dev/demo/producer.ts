// Plays Odoo's users: commits the scenario's batches at their arrival times, as with_delay() would.
import type pg from 'pg';
import { createChain, createJobs } from '../../test/support/jobs.ts';
import { hiRes, sleep } from '../stats.ts';
import type { JobSpec, Scenario } from './scenario.ts';

export interface Committed {
  spec: JobSpec;
  uuid: string;
  /** When the INSERT's commit was acknowledged to us (the job cannot be seen before), epoch ms. */
  committedAt: number;
  /** The stored eta, epoch ms, read back from the row; null = none. */
  eta: number | null;
}

export async function produce(
  pool: pg.Pool,
  scenario: Scenario,
  onCommitted: (jobs: Committed[]) => void,
  signal: AbortSignal,
): Promise<void> {
  const start = hiRes();
  for (const batch of scenario.batches) {
    await sleep(start + batch.arrivalMs - hiRes(), signal);
    if (signal.aborted) return;
    const specs = batch.specs;
    const uuids =
      batch.kind === 'chain'
        ? await createChain(pool, specs.length, { channel: specs[0]!.channel, name: 'demo chain' })
        : await createJobs(pool, specs.length, {
            // Arrays as long as the batch: row i gets channel[i] and priority[i].
            channel: specs.map((spec) => spec.channel),
            priority: specs.map((spec) => spec.priority),
            eta: batch.etaSeconds,
            maxRetries: batch.maxRetries,
            name: 'demo job',
          });
    const committedAt = hiRes();
    const jobs: Committed[] = uuids.map((uuid, i) => ({ spec: specs[i]!, uuid, committedAt, eta: null }));
    onCommitted(jobs);
    if (batch.etaSeconds !== null) {
      // Read-only: the eta as stored (database clock), the moment these jobs become runnable; seconds
      // away, so it is known long before any of them can be sent.
      const { rows } = await pool.query<{ uuid: string; eta: number }>(
        `SELECT uuid, extract(epoch FROM eta) * 1000 AS eta FROM queue_job WHERE uuid = ANY($1::text[])`,
        [uuids],
      );
      const etas = new Map(rows.map((row) => [row.uuid, Number(row.eta)]));
      for (const job of jobs) job.eta = etas.get(job.uuid) ?? null;
    }
  }
}
