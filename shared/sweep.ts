/**
 * The dead-job sweep (design, "Dead jobs"), run before claiming:
 * - enqueued jobs older than ENQUEUED_TIMEOUT_SECONDS go back to pending (a lost request, or a crash
 *   between claim and send);
 * - started jobs are requeued (retry + 1) or failed (JobFoundDead, retries exhausted) ONLY when a
 *   liveness signal says their worker is gone: upstream's lock table when the module has one, else
 *   the absence of Odoo's `odoo-<pid>` connection for the job's worker_pid. With no usable signal,
 *   started jobs are left alone and reported by `status`.
 */
import type pg from 'pg';
import { type Timeouts, transaction } from './database.ts';
import * as sql from './sql.ts';

export interface SweepOptions {
  enqueuedTimeoutSeconds: number;
  /** Odoo's application_name pattern, with {pid}. */
  pgAppName: string;
  /** Clock skew allowance between Odoo and PostgreSQL, and minimum age of a started job we judge. */
  graceSeconds: number;
}

export type Liveness = 'lock_table' | 'connections' | 'none';

export interface SweptJob {
  uuid: string;
  channel: string | null;
  /** The state the sweep left it in. */
  state: 'pending' | 'failed';
  /** The state the sweep found it in. */
  from: 'enqueued' | 'started';
}

export interface SweepResult {
  jobs: SweptJob[];
  liveness: Liveness;
}

/** Which liveness signal this database offers; the lock table is looked up once per target. */
export async function liveness(
  pool: pg.Pool,
  pgAppName: string,
  lockTable: string | null,
): Promise<Liveness> {
  if (lockTable) return 'lock_table';
  const { rows } = await pool.query<{ visible: boolean }>(sql.odooConnectionsVisible, [pgAppName]);
  return rows[0]?.visible ? 'connections' : 'none';
}

export async function findLockTable(pool: pg.Pool): Promise<string | null> {
  const { rows } = await pool.query<{ name: string | null }>(sql.lockTable);
  return rows[0]?.name ?? null;
}

export async function sweep(
  pool: pg.Pool,
  timeouts: Timeouts,
  options: SweepOptions,
  lockTable: string | null,
): Promise<SweepResult> {
  const jobs: SweptJob[] = [];
  const enqueued = await transaction(pool, timeouts, (client) =>
    client.query<{ uuid: string; channel: string | null }>(sql.sweepEnqueued, [
      options.enqueuedTimeoutSeconds,
    ]),
  );
  for (const row of enqueued.rows)
    jobs.push({ uuid: row.uuid, channel: row.channel, state: 'pending', from: 'enqueued' });

  const signal = await liveness(pool, options.pgAppName, lockTable);
  if (signal !== 'none') {
    const statement =
      signal === 'connections'
        ? { text: sql.sweepStartedByConnection, values: [options.graceSeconds, options.pgAppName] }
        : {
            text: lockTable === 'queue_job_locks' ? sql.sweepStartedByLocks : sql.sweepStartedByLock,
            values: [options.graceSeconds],
          };
    const started = await transaction(pool, timeouts, (client) =>
      client.query<{ uuid: string; channel: string | null; state: 'pending' | 'failed' }>(statement),
    );
    for (const row of started.rows)
      jobs.push({ uuid: row.uuid, channel: row.channel, state: row.state, from: 'started' });
  }
  return { jobs, liveness: signal };
}
