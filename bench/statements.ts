// Where PostgreSQL's time goes, statement by statement: with BENCH_STATEMENTS=1 the bench server loads
// pg_stat_statements, and the throughput bench prints each run's statements by total execution time.
// Off by default: the extension's own bookkeeping is not part of what the figures measure.
import type pg from 'pg';

export const STATEMENTS = process.env.BENCH_STATEMENTS === '1';

/** The server settings that load the extension (a restart-only setting, so given at start). */
export const statementSettings = STATEMENTS
  ? { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' }
  : undefined;

/** Creates the extension in the run's database and forgets what came before. */
export async function resetStatements(pool: pg.Pool): Promise<void> {
  await pool.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  await pool.query('SELECT pg_stat_statements_reset()');
}

/** The `limit` statements of this database with the most execution time, one line each. */
export async function topStatements(pool: pg.Pool, jobs: number, limit = 12): Promise<string[]> {
  const { rows } = await pool.query<{ calls: string; total: number; query: string }>(
    `SELECT calls, total_exec_time AS total, regexp_replace(query, '\\s+', ' ', 'g') AS query
     FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
     WHERE d.datname = current_database() ORDER BY total_exec_time DESC LIMIT $1`,
    [limit],
  );
  return rows.map(
    (row) =>
      `${(row.total / 1000).toFixed(2).padStart(7)} s  ${String(Math.round((row.total * 1000) / jobs)).padStart(4)} µs/job  ` +
      `${row.calls.padStart(6)} calls  ${row.query.slice(0, 110)}`,
  );
}
