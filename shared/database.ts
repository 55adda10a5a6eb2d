/**
 * Connections to an Odoo database. The runner names its sessions `queue-job-runner` (never Odoo's
 * `odoo-<pid>`, which is the liveness signal of Odoo's workers) and keeps every transaction short.
 */
import type pg from 'pg';
import { pg as loadPg } from './lazy.ts';

export const APPLICATION_NAME = 'queue-job-runner';

export interface Timeouts {
  lockTimeoutMs: number;
  statementTimeoutMs: number;
}

export const defaultTimeouts: Timeouts = { lockTimeoutMs: 2000, statementTimeoutMs: 15_000 };

/** Connections a target's pool may open; the tick counts a target at this (README, "Many databases"). */
export const DEFAULT_POOL_MAX = 4;

/** A small pool for one target; errors of idle clients (a killed backend) are absorbed, not fatal. */
export function openPool(databaseUrl: string, max = DEFAULT_POOL_MAX): pg.Pool {
  const pool = new (loadPg().Pool)({
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
  const client = new (loadPg().Client)({
    connectionString: databaseUrl,
    application_name: APPLICATION_NAME,
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
  });
  return client;
}

/** PostgreSQL error codes the runner treats as "busy, try the next pass", not as a failure. */
export function isLockTimeout(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '55P03' || code === '40001' || code === '40P01';
}
