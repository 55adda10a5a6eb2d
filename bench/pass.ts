// (c) One claim pass's time (shared/claim.ts claimPass, the production pass) beside 1 k pending jobs with
// 10 k `done` rows (without the helper indexes), then beside 100 k pending jobs with 10 k and then 1 M
// `done` rows, without and with the optional helper indexes; and the round trips of one pass. Two shapes:
// - "root full": 8 jobs started, root:8: the pass takes the baton, reads the state, claims nothing;
// - "claiming 8": root:16 with 8 started: the pass also reads candidates and claims 8 jobs, which are put
//   back to pending (untimed) before the next pass, so every pass sees the same table.

import pg from 'pg';
import { hiRes, percentile } from '../dev/stats.ts';
import { channelTree, parseChannels } from '../shared/channels.ts';
import { claimPass } from '../shared/claim.ts';
import { DirectTransport } from '../shared/direct.ts';
import * as sql from '../shared/sql.ts';
import { helperIndexesPresent } from '../shared/target.ts';
import type { TestDatabase } from '../test/support/db.ts';
import { createJobs } from '../test/support/jobs.ts';
import { type BenchContext, type Figure, round } from './common.ts';

const PENDING = 100_000;
const SMALL_PENDING = 1_000;
const CHANNELS = ['root.c0', 'root.c1', 'root.c2', 'root.c3', 'root.c4', 'root.c5', 'root.c6', 'root.c7'];
const WARM = 3;
/** Cheap passes are noisy on a shared machine: more of them; the expensive ones are bounded by time. */
const REPS = { 'root full': 100, 'claiming 8': 30 } as const;
const TIME_LIMIT_MS = 20_000;

interface Measured {
  pending: number;
  done: number;
  indexed: boolean;
  shape: 'root full' | 'claiming 8';
  p50: number;
  p95: number;
  n: number;
  /** Statements sent to PostgreSQL per pass (each one round trip: BEGIN + SET LOCALs go as one). */
  roundTrips: number;
}

/** Counts the queries every pg client of this process sends: one round trip each. */
let sent = 0;
const originalQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  sent += 1;
  return (originalQuery as (...a: unknown[]) => unknown).apply(this, args);
} as typeof originalQuery;

export async function passBench(ctx: BenchContext): Promise<Figure[]> {
  const db = await ctx.database('bench_pass', 4);
  const pool = new DirectTransport(db.url);
  const results: Measured[] = [];
  try {
    // The small backlog first, in a database of its own: what a pass costs when the backlog is small.
    {
      const small = await ctx.database('bench_pass_small', 4);
      const smallPool = new DirectTransport(small.url);
      try {
        await load(small, SMALL_PENDING, 'pending');
        await load(small, 10_000, 'done');
        await createJobs(small.pool, 8, { channel: 'root.c0', state: 'started' });
        await small.pool.query('VACUUM ANALYZE queue_job');
        for (const shape of ['root full', 'claiming 8'] as const) {
          const m = await measure(small, smallPool, shape, false);
          results.push({ pending: SMALL_PENDING, done: 10_000, indexed: false, shape, ...m });
          ctx.log(
            `${SMALL_PENDING} pending, 10000 done, without helper indexes, ${shape}: ` +
              `pass p50 ${m.p50} ms, p95 ${m.p95} ms (n=${m.n}), ${m.roundTrips} round trips`,
          );
        }
      } finally {
        await smallPool.close();
        await small.close();
      }
    }
    let t = hiRes();
    await load(db, PENDING, 'pending');
    await load(db, 10_000, 'done');
    await createJobs(db.pool, 8, { channel: 'root.c0', state: 'started' });
    await db.pool.query('VACUUM ANALYZE queue_job');
    ctx.log(`loaded ${PENDING} pending + 10k done in ${round((hiRes() - t) / 1000)} s`);
    for (const done of [10_000, 1_000_000]) {
      if (done > 10_000) {
        t = hiRes();
        await load(db, done - 10_000, 'done');
        await db.pool.query('VACUUM ANALYZE queue_job');
        ctx.log(`added ${done - 10_000} done rows in ${round((hiRes() - t) / 1000)} s`);
      }
      for (const indexed of [false, true]) {
        if (indexed) {
          t = hiRes();
          for (const index of sql.helperIndexes) await db.pool.query(index.create);
          await db.pool.query('ANALYZE queue_job');
          ctx.log(`helper indexes built in ${round((hiRes() - t) / 1000)} s`);
        }
        // As the window decides: the cheaper read only when every helper index is present and valid.
        const present = await helperIndexesPresent(pool);
        if (present !== indexed) throw new Error(`helper indexes present: ${present}, expected ${indexed}`);
        for (const shape of ['root full', 'claiming 8'] as const) {
          const m = await measure(db, pool, shape, indexed);
          results.push({ pending: PENDING, done, indexed, shape, ...m });
          ctx.log(
            `${PENDING} pending, ${done} done, ${indexed ? 'with' : 'without'} helper indexes, ${shape}: ` +
              `pass p50 ${m.p50} ms, p95 ${m.p95} ms (n=${m.n}), ${m.roundTrips} round trips`,
          );
        }
        if (indexed) for (const index of sql.helperIndexes) await db.pool.query(index.drop);
      }
    }
  } finally {
    await pool.close();
    await db.close();
  }

  const figures: Figure[] = results.map((r) => ({
    bench: 'pass',
    name: `pass, ${r.shape}, ${r.pending >= PENDING ? '100k' : '1k'} pending, ${r.done >= 1_000_000 ? '1M' : '10k'} done, ${r.indexed ? 'indexed' : 'no index'}`,
    value: r.p50,
    unit: 'ms',
    note: `median of ${r.n} passes (p95 ${r.p95} ms); ${r.pending} pending in ${CHANNELS.length} channels; ${r.roundTrips} round trips per pass`,
  }));
  for (const shape of ['root full', 'claiming 8'] as const) {
    const small = results.find((r) => r.shape === shape && r.pending === SMALL_PENDING)!;
    const large = results.find(
      (r) => r.shape === shape && r.pending === PENDING && r.done === 10_000 && !r.indexed,
    )!;
    figures.push(
      {
        bench: 'pass',
        name: `pass 100k pending / 1k pending, ${shape}, 10k done, no index`,
        value: round(large.p50 / small.p50, 2),
        unit: '×',
        target: { value: 3, kind: 'max' },
      },
      {
        bench: 'pass',
        name: `round trips per pass, ${shape}`,
        value: large.roundTrips,
        unit: 'statements',
        note: 'each pg query is one round trip; BEGIN and its SET LOCALs are sent as one',
      },
    );
  }
  for (const shape of ['root full', 'claiming 8'] as const) {
    for (const indexed of [false, true]) {
      const small = results.find((r) => r.shape === shape && r.indexed === indexed && r.done === 10_000)!;
      const large = results.find((r) => r.shape === shape && r.indexed === indexed && r.done === 1_000_000)!;
      figures.push({
        bench: 'pass',
        name: `pass 1M done / 10k done, ${shape}, ${indexed ? 'indexed' : 'no index'}`,
        value: round(large.p50 / small.p50, 2),
        unit: '×',
        target: { value: 2, kind: 'max' },
      });
    }
  }
  return figures;
}

/**
 * Bulk rows in 100 k statements. Odoo's NOTIFY trigger is skipped for the load only (replica role):
 * a million notifications in one transaction would measure the queue, not the runner.
 */
async function load(db: TestDatabase, count: number, state: 'pending' | 'done'): Promise<void> {
  const client = await db.pool.connect();
  try {
    await client.query('SET session_replication_role = replica');
    for (let left = count; left > 0; left -= 100_000) {
      await createJobs(client, Math.min(left, 100_000), {
        channel: CHANNELS,
        priority: [5, 10, 15],
        state,
      });
    }
    await client.query('RESET session_replication_role');
  } finally {
    client.release();
  }
}

async function measure(
  db: TestDatabase,
  pool: DirectTransport,
  shape: 'root full' | 'claiming 8',
  indexed: boolean,
): Promise<{ p50: number; p95: number; n: number; roundTrips: number }> {
  const tree = channelTree(parseChannels(shape === 'root full' ? 'root:8' : 'root:16'));
  const times: number[] = [];
  let trips = 0;
  const until = hiRes() + TIME_LIMIT_MS;
  for (let i = 0; i < WARM + REPS[shape] && hiRes() < until; i++) {
    const started = hiRes();
    const sentBefore = sent;
    const result = await claimPass(pool, tree, undefined, indexed);
    const elapsed = hiRes() - started;
    trips = sent - sentBefore;
    if (i >= WARM) times.push(elapsed);
    const expected = shape === 'root full' ? 0 : 8;
    if (result.claimed.length !== expected)
      throw new Error(`${shape}: pass claimed ${result.claimed.length}, expected ${expected}`);
    if (result.claimed.length > 0) {
      // Untimed: back to pending, so the next pass sees the same table.
      await db.pool.query(`UPDATE queue_job SET state = 'pending', date_enqueued = NULL WHERE id = ANY($1)`, [
        result.claimed.map((job) => job.id),
      ]);
    }
  }
  return {
    p50: round(percentile(times, 0.5), 2),
    p95: round(percentile(times, 0.95), 2),
    n: times.length,
    roundTrips: trips,
  };
}
