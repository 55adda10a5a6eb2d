// Many targets in one tick, against real PostgreSQL and the Odoo stand-in: at most
// TICK_TARGET_CONCURRENCY targets served at once (counted by the stand-in, which sees their jobs run),
// at most MAX_CONNECTIONS_PER_SERVER connections to one server (sampled from pg_stat_activity),
// refusing targets reported failed and idle ones ok, and windows dropped when the fleet does not fit.
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { APPLICATION_NAME } from '../shared/database.ts';
import { silentLogger } from '../shared/log.ts';
import { tick } from '../shared/tick.ts';
import { createDatabase, type TestDatabase } from './support/db.ts';
import { createJobs, stateCounts } from './support/jobs.ts';
import { DEFAULT_KNOBS, type OdooStandin, startOdoo } from './support/odoo.ts';
import { captureLog, testConfig } from './support/runner.ts';

const BUSY = 6;
let busy: TestDatabase[] = [];
let idle: TestDatabase;
let odoo: OdooStandin;

beforeAll(async () => {
  const admin = inject('adminDatabaseUrl');
  busy = await Promise.all(
    Array.from({ length: BUSY }, () => createDatabase(admin, undefined, { poolMax: 2 })),
  );
  idle = await createDatabase(admin, undefined, { poolMax: 2 });
  odoo = await startOdoo({
    databases: Object.fromEntries([...busy, idle].map((db) => [db.name, db.url])),
    workers: 32,
  });
});

afterAll(async () => {
  await odoo?.close();
  await Promise.all([...busy, idle].map((db) => db?.close()));
});

beforeEach(async () => {
  await Promise.all([...busy, idle].map((db) => db.pool.query('DELETE FROM queue_job')));
  odoo.configure(DEFAULT_KNOBS);
  odoo.resetPeaks();
});

/** Busy targets (one database and one job each), idle ones (all on one empty database), refusing ones. */
function fleet(counts: { busy: number; idle: number; refusing: number }) {
  const entry = (name: string, db: TestDatabase) => ({
    name,
    databaseUrl: db.url,
    db: db.name,
    odooUrl: odoo.url,
    channels: 'root:1',
  });
  return JSON.stringify([
    ...busy.slice(0, counts.busy).map((db, i) => entry(`busy-${i}`, db)),
    ...Array.from({ length: counts.idle }, (_, i) => entry(`idle-${i}`, idle)),
    ...Array.from({ length: counts.refusing }, (_, i) => ({
      name: `refusing-${i}`,
      databaseUrl: `postgres://nobody:pw@127.0.0.1:1/none${i}`,
      odooUrl: odoo.url,
    })),
  ]);
}

/** Samples how many runner connections each of our databases' server holds, until stopped. */
function sampleConnections(names: string[]) {
  const client = new pg.Client({ connectionString: idle.url, application_name: 'qjr-test-sampler' });
  let peak = 0;
  let running = true;
  const loop = (async () => {
    await client.connect();
    while (running) {
      const { rows } = await client.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND datname = ANY($2)',
        [APPLICATION_NAME, names],
      );
      peak = Math.max(peak, rows[0]!.n);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await client.end();
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return peak;
    },
  };
}

describe('a tick over many targets', () => {
  it('serves at most TICK_TARGET_CONCURRENCY targets at once, and every one of them', async () => {
    // Each busy target's job runs 300 ms inside its serve: the stand-in sees the targets that overlap.
    odoo.configure({ durationMs: 300 });
    await Promise.all(busy.map((db) => createJobs(db.pool, 1)));
    const config = testConfig({
      databaseUrl: idle.url,
      env: { QUEUE_JOB_TARGETS: fleet({ busy: BUSY, idle: 4, refusing: 0 }), TICK_TARGET_CONCURRENCY: '2' },
    });
    const summary = await tick(config, silentLogger);
    expect(summary.ok).toBe(true);
    expect(summary.targets).toHaveLength(BUSY + 4);
    expect(summary.targetsAtOnce).toBeLessThanOrEqual(2);
    expect(odoo.peakRunning('root')).toBeLessThanOrEqual(2);
    expect(summary.targets.reduce((n, t) => n + t.dispatched, 0)).toBe(BUSY);
    for (const db of busy) expect(await stateCounts(db.pool)).toEqual({ done: 1 });
  });

  it('keeps the connections to one server within MAX_CONNECTIONS_PER_SERVER; refusing targets fail, idle ones are ok', async () => {
    odoo.configure({ durationMs: 300 });
    await Promise.all(busy.map((db) => createJobs(db.pool, 1)));
    const config = testConfig({
      databaseUrl: idle.url,
      env: {
        QUEUE_JOB_TARGETS: fleet({ busy: BUSY, idle: 20, refusing: 5 }),
        TICK_TARGET_CONCURRENCY: '16',
        // Each target counts as its pool (4): one target of this server at a time.
        MAX_CONNECTIONS_PER_SERVER: '5',
      },
    });
    const sampler = sampleConnections([...busy, idle].map((db) => db.name));
    const summary = await tick(config, silentLogger);
    const peak = await sampler.stop();
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(5);
    expect(summary.failing.sort()).toEqual([
      'refusing-0',
      'refusing-1',
      'refusing-2',
      'refusing-3',
      'refusing-4',
    ]);
    for (const target of summary.targets.filter((t) => !t.target.startsWith('refusing'))) {
      expect(target, target.target).toMatchObject({ ok: true, errors: [] });
    }
    expect(summary.targets.filter((t) => t.target.startsWith('busy')).every((t) => t.dispatched === 1)).toBe(
      true,
    );
  });

  it('gives each target one pass instead of a window when the fleet does not fit at once, and says why', async () => {
    const captured = captureLog('warning');
    const config = testConfig({
      databaseUrl: idle.url,
      windowSeconds: 30,
      env: { QUEUE_JOB_TARGETS: fleet({ busy: 0, idle: 5, refusing: 0 }), TICK_TARGET_CONCURRENCY: '4' },
    });
    const summary = await tick(config, captured.log);
    expect(summary.windowSeconds).toBe(0);
    expect(summary.targets.every((t) => t.ok && t.passes === 1)).toBe(true);
    const warning = captured.entries().find((entry) => entry.event === 'windows_dropped');
    expect(String(warning?.msg ?? warning?.message)).toMatch(/TICK_TARGET_CONCURRENCY=4/);
  });
});
