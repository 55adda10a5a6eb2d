/**
 * Connections to an Odoo database. The runner names its sessions `queue-job-runner` (never Odoo's
 * `odoo-<pid>`, which is the liveness signal of Odoo's workers) and keeps every transaction short.
 */
import pg from 'pg';
import * as sql from './sql.ts';

export const APPLICATION_NAME = 'queue-job-runner';

export interface Timeouts {
  lockTimeoutMs: number;
  statementTimeoutMs: number;
}

export const defaultTimeouts: Timeouts = { lockTimeoutMs: 2000, statementTimeoutMs: 15_000 };

/** A small pool for one target; errors of idle clients (a killed backend) are absorbed, not fatal. */
export function openPool(databaseUrl: string, max = 4): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max,
    application_name: APPLICATION_NAME,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
  });
  pool.on('error', () => {
    // An idle client died (server restart, pg_terminate_backend): the pool drops it and opens another.
  });
  return pool;
}

/** A dedicated client, outside any pool: used for LISTEN, which needs one session for its whole life. */
export function openClient(databaseUrl: string): pg.Client {
  const client = new pg.Client({
    connectionString: databaseUrl,
    application_name: APPLICATION_NAME,
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
  });
  return client;
}

const guarded = new WeakSet<pg.PoolClient>();

/**
 * A checked-out client whose backend dies emits 'error' besides failing its query; unhandled, that
 * event would crash the process. The query's rejection is what the caller handles.
 */
function guard(client: pg.PoolClient): pg.PoolClient {
  if (!guarded.has(client)) {
    client.on('error', () => {});
    guarded.add(client);
  }
  return client;
}

/** Runs `work` in one short transaction with lock and statement timeouts; rolls back on any error. */
export async function transaction<T>(
  pool: pg.Pool,
  timeouts: Timeouts,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = guard(await pool.connect());
  let broken = false;
  try {
    await client.query(sql.begin(timeouts.lockTimeoutMs, timeouts.statementTimeoutMs));
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch {
      broken = true;
    }
    throw error;
  } finally {
    // A client whose connection failed must not go back to the pool.
    client.release(broken);
  }
}

/** PostgreSQL error codes the runner treats as "busy, try the next pass", not as a failure. */
export function isLockTimeout(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '55P03' || code === '40001' || code === '40P01';
}
