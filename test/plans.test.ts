// The plans of the window's hot units (`sql.begin` with generic plans): never parallel. A generic plan
// cannot fold away the parts that empty arrays switch off (no throttled or sequential channel), and
// where such a part scans queue_job in parallel the workers are launched before its one-time filter
// stops them: 11-12 ms a pass beside 110 k rows. Checked on the plan PostgreSQL makes when parallel
// workers cost nothing, so the test does not depend on the table's size; the same unit opened without
// the setting is shown to go parallel, so the check can fail.
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import * as sql from '../shared/sql.ts';
import { useStandin } from './support/fixture.ts';
import { createJobs } from './support/jobs.ts';

const fixture = useStandin();

/** Makes a parallel plan the cheapest wherever one is allowed. */
const PARALLEL_FREE =
  'SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0; ' +
  'SET LOCAL min_parallel_table_scan_size = 0; SET LOCAL min_parallel_index_scan_size = 0';

// The claim runs under the same BEGIN; only the pass state is shown here to go parallel without it
// (the claim reads its throttle inside EXISTS, which plans for a fast start).
const UNITS: [string, sql.Statement, string][] = [
  [sql.passState.name, sql.passState, `'{}', '{}', '{}', '{}', '{}', 0`],
  [sql.passStateByIndex.name, sql.passStateByIndex, `'{}', '{}', '{}', '{}', '{}', 0`],
];

async function plan(client: pg.PoolClient, begin: string, statement: sql.Statement, values: string) {
  await client.query(`${begin}; ${PARALLEL_FREE}`);
  try {
    await client.query(`PREPARE probe AS ${statement.text}`);
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE probe(${values})`);
    return rows.map((row) => row['QUERY PLAN']).join('\n');
  } finally {
    await client.query('ROLLBACK');
    await client.query('DEALLOCATE ALL');
  }
}

describe('the generic units of a pass', () => {
  it.each(UNITS)('plan %s without parallel workers', async (_name, statement, values) => {
    await createJobs(fixture.db.pool, 2000, { state: 'done' });
    await fixture.db.pool.query(`UPDATE queue_job SET date_enqueued = date_created`);
    await fixture.db.pool.query('ANALYZE queue_job');
    const client = await fixture.db.pool.connect();
    try {
      const generic = await plan(client, sql.begin(1000, 5000, true), statement, values);
      expect(generic).toMatch(/Seq Scan|Index/);
      expect(generic).not.toMatch(/Gather|Parallel/);
      // The same unit with generic plans alone goes parallel here (PostgreSQL's default of two workers
      // a Gather, set in case the server says otherwise): what the setting prevents.
      const unguarded = await plan(
        client,
        'BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL max_parallel_workers_per_gather = 2',
        statement,
        values,
      );
      expect(unguarded).toMatch(/Gather/);
    } finally {
      client.release();
    }
  });
});
