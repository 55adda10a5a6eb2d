/**
 * The dead-job sweep (design, "Dead jobs"), run before claiming:
 * - enqueued jobs older than ENQUEUED_TIMEOUT_SECONDS go back to pending (a lost request, or a crash
 *   between claim and send);
 * - started jobs are requeued (retry + 1) or failed (JobFoundDead, retries exhausted) ONLY when a
 *   liveness signal says their worker is gone: upstream's lock table when the module has one, else
 *   the absence of Odoo's `odoo-<pid>` connection for the job's worker_pid. With no usable signal,
 *   started jobs are left alone, counted as `unjudged`, and the window asks Odoo to connect
 *   (`liveness.ts`) before it judges again.
 */
import * as sql from './sql.ts';
import { query, type Transport } from './transport.ts';

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
  /** Started jobs past the grace that no signal could judge (liveness none): left alone, holding capacity. */
  unjudged: number;
}

type SweptRow = { uuid: string; channel: string | null; state?: 'pending' | 'failed' };

/** One unit: lost enqueued jobs, then dead started ones by the signal this database offers. */
export async function sweep(
  transport: Transport,
  options: SweepOptions,
  lockTable: string | null,
): Promise<SweepResult> {
  const enqueued = { statement: sql.sweepEnqueued, values: [options.enqueuedTimeoutSeconds] };
  let liveness: Liveness = 'lock_table';
  let unjudged = 0;
  let results: SweptRow[][];
  if (lockTable) {
    const started = lockTable === 'queue_job_locks' ? sql.sweepStartedByLocks : sql.sweepStartedByLock;
    const [lost, dead] = await transport.run([
      enqueued,
      { statement: started, values: [options.graceSeconds] },
    ]);
    results = [lost as SweptRow[], dead as SweptRow[]];
  } else {
    // The connection signal is only trusted while Odoo's connections are visible at all: the sweep
    // statement checks that itself, `visible` says which signal was in force, and `waiting` counts
    // the started jobs left unjudged for want of it.
    const grace = options.graceSeconds;
    const [lost, visible, dead, waiting] = await transport.run([
      enqueued,
      { statement: sql.odooConnectionsVisible, values: [options.pgAppName] },
      { statement: sql.sweepStartedByConnection, values: [grace, options.pgAppName] },
      { statement: sql.startedUnjudged, values: [grace, options.pgAppName] },
    ]);
    liveness = visible![0]?.visible ? 'connections' : 'none';
    unjudged = Number(waiting![0]?.n ?? 0);
    results = [lost as SweptRow[], dead as SweptRow[]];
  }
  const jobs: SweptJob[] = [];
  for (const row of results[0]!)
    jobs.push({ uuid: row.uuid, channel: row.channel, state: 'pending', from: 'enqueued' });
  for (const row of results[1]!)
    jobs.push({ uuid: row.uuid, channel: row.channel, state: row.state ?? 'pending', from: 'started' });
  return { jobs, liveness, unjudged };
}

/** Which liveness signal this database offers (status). */
export async function liveness(
  transport: Transport,
  pgAppName: string,
  lockTable: string | null,
): Promise<Liveness> {
  if (lockTable) return 'lock_table';
  const rows = await query<{ visible: boolean }>(transport, sql.odooConnectionsVisible, [pgAppName]);
  return rows[0]?.visible ? 'connections' : 'none';
}
