// Faults: a sleeping Odoo, wrong credentials, database connections killed mid-pass, an upstream runner
// on the same database, upstream's lock table, a missing root channel row, a paused target.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { channelTree, parseChannels } from '../shared/channels.ts';
import { claimPass } from '../shared/claim.ts';
import { DirectTransport } from '../shared/direct.ts';
import { silentLogger } from '../shared/log.ts';
import { tick } from '../shared/tick.ts';
import { useStandin } from './support/fixture.ts';
import { createJob, createJobs, jobStates, stateCounts } from './support/jobs.ts';
import { captureLog, testConfig } from './support/runner.ts';

const fixture = useStandin({ poolMax: 12 });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Odoo faults', () => {
  it('asleep (502) then awake: jobs go back to pending, Odoo is woken, and everything runs', async () => {
    const uuids = await createJobs(fixture.db.pool, 6);
    fixture.odoo.configure({ wakeOnHealth: true });
    await fixture.odoo.sleep('502');
    const summary = await tick(
      testConfig({ databaseUrl: fixture.db.url, channels: 'root:6', windowSeconds: 3 }),
      silentLogger,
    );
    expect(summary.targets[0]?.outcomes.unavailable).toBeGreaterThanOrEqual(1);
    expect(summary.targets[0]?.reverted).toBeGreaterThanOrEqual(6);
    expect(summary.ok).toBe(true);
    expect(Object.values(await jobStates(fixture.db.pool, uuids))).toEqual(Array(6).fill('done'));
    expect(uuids.every((uuid) => fixture.odoo.takenCount(uuid) === 1)).toBe(true);
  }, 10_000);

  it('wrong basic auth: one clear error naming ODOO_QUEUE_JOB_HTTP_AUTH_USER, jobs back to pending', async () => {
    fixture.odoo.configure({ auth: { user: 'runner', password: 'right-password' } });
    const uuids = await createJobs(fixture.db.pool, 5);
    const captured = captureLog('debug');
    const wrong = testConfig({
      databaseUrl: fixture.db.url,
      channels: 'root:5',
      auth: { user: 'runner', password: 'wrong-password' },
    });
    const summary = await tick(wrong, captured.log);
    expect(summary.ok).toBe(false);
    expect(summary.failing).toEqual(['default']);
    // Sends already in flight when the first 401 came back also got one; all were reverted.
    expect(summary.targets[0]?.outcomes.misconfigured).toBeGreaterThanOrEqual(1);
    expect(summary.targets[0]?.reverted).toBe(5);
    expect(summary.targets[0]?.errors).toHaveLength(1);
    expect(summary.targets[0]?.errors[0]).toContain('ODOO_QUEUE_JOB_HTTP_AUTH_USER');
    const errors = captured.entries().filter((entry) => entry.severity === 'ERROR');
    expect(errors).toHaveLength(1);
    expect(String(errors[0]?.message)).toContain('ODOO_QUEUE_JOB_HTTP_AUTH_USER');
    expect(captured.lines.join('\n')).not.toContain('wrong-password');
    expect(Object.values(await jobStates(fixture.db.pool, uuids))).toEqual(Array(5).fill('pending'));

    const right = testConfig({
      databaseUrl: fixture.db.url,
      channels: 'root:5',
      auth: { user: 'runner', password: 'right-password' },
    });
    expect((await tick(right, silentLogger)).targets[0]?.dispatched).toBe(5);
  });

  it('a 404 (wrong URL or queue_job not loaded) names the URL setting', async () => {
    await createJobs(fixture.db.pool, 1);
    const config = testConfig({ databaseUrl: fixture.db.url, odooUrl: `${fixture.odoo.url}/not-odoo` });
    const summary = await tick(config, silentLogger);
    expect(summary.targets[0]?.errors.join(' ')).toContain('ODOO_URL');
    expect(await stateCounts(fixture.db.pool)).toEqual({ pending: 1 });
  });
});

describe('database faults', () => {
  it('connections killed mid-pass: the next ticks complete everything, nothing lost or sent twice', async () => {
    const uuids = await createJobs(fixture.db.pool, 200, { channel: ['root', 'root.a'] });
    fixture.odoo.configure({ durationMs: 3 });
    const config = testConfig({
      databaseUrl: fixture.db.url,
      channels: 'root:8,root.a:3',
      windowSeconds: 2,
      enqueuedTimeoutSeconds: 1,
    });
    const killer = new pg.Client({ connectionString: fixture.db.url });
    await killer.connect();
    let kills = 0;
    let stop = false;
    const killing = (async () => {
      while (!stop) {
        const { rowCount } = await killer.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE application_name = 'queue-job-runner' AND datname = current_database()`,
        );
        kills += rowCount ?? 0;
        await sleep(15);
      }
    })();
    const during = await tick(config, silentLogger);
    stop = true;
    await killing;
    await killer.end();
    expect(kills).toBeGreaterThan(0);
    expect(during.targets[0]?.errors.length).toBeGreaterThan(0);
    // The ticks that follow finish the work; the sweep returns what a killed pass left enqueued.
    const started = Date.now();
    while ((await stateCounts(fixture.db.pool)).done !== 200) {
      if (Date.now() - started > 30_000) throw new Error(JSON.stringify(await stateCounts(fixture.db.pool)));
      await tick(config, silentLogger);
    }
    await fixture.odoo.waitFor(() => fixture.odoo.counts().inFlight === 0, 5000);
    expect(uuids.filter((uuid) => fixture.odoo.takenCount(uuid) !== 1)).toEqual([]);
  }, 60_000);

  it('an unreachable database fails that target with a message and no secret', async () => {
    const config = testConfig({ databaseUrl: 'postgres://odoo:db-secret-pw@127.0.0.1:1/nowhere' });
    const captured = captureLog();
    const summary = await tick(config, captured.log);
    expect(summary.ok).toBe(false);
    expect(summary.targets[0]?.errors.join(' ')).toMatch(/ECONNREFUSED|connect/);
    expect(JSON.stringify(summary) + captured.lines.join('\n')).not.toContain('db-secret-pw');
  });
});

describe('upstream runner and lock table', () => {
  it('dispatches nothing while the built-in runner holds its advisory lock, and says how to disable it', async () => {
    const uuids = await createJobs(fixture.db.pool, 2);
    const upstream = new pg.Client({ connectionString: fixture.db.url });
    await upstream.connect();
    try {
      await upstream.query('SELECT pg_advisory_lock(2293787760715711918)');
      const summary = await tick(testConfig({ databaseUrl: fixture.db.url }), silentLogger);
      expect(summary.ok).toBe(false);
      expect(summary.targets[0]).toMatchObject({ upstreamRunner: true, claimed: 0 });
      expect(summary.targets[0]?.errors.join(' ')).toContain('ODOO_QUEUE_JOB_CHANNELS=root:0');
      expect(Object.values(await jobStates(fixture.db.pool, uuids))).toEqual(['pending', 'pending']);
    } finally {
      await upstream.end();
    }
    const after = await tick(testConfig({ databaseUrl: fixture.db.url, channels: 'root:2' }), silentLogger);
    expect(after.targets[0]).toMatchObject({ upstreamRunner: false, dispatched: 2 });
  });

  it("uses upstream's lock table when present: a held lock row is alive, a free or missing one is dead", async () => {
    await fixture.db.pool.query(`CREATE TABLE queue_job_lock (
      id serial PRIMARY KEY, queue_job_id integer REFERENCES queue_job(id) ON DELETE CASCADE,
      create_uid integer, create_date timestamp, write_uid integer, write_date timestamp)`);
    try {
      const started = `UPDATE queue_job SET state = 'started', worker_pid = 1,
        date_enqueued = now() AT TIME ZONE 'utc' - interval '1 minute',
        date_started = now() AT TIME ZONE 'utc' - interval '1 minute' WHERE uuid = $1 RETURNING id`;
      const alive = await createJob(fixture.db.pool);
      const dead = await createJob(fixture.db.pool);
      const orphan = await createJob(fixture.db.pool);
      for (const job of [alive, dead, orphan]) await fixture.db.pool.query(started, [job.uuid]);
      await fixture.db.pool.query(
        'INSERT INTO queue_job_lock (id, queue_job_id) SELECT id, id FROM queue_job WHERE uuid = ANY($1)',
        [[alive.uuid, dead.uuid]],
      );
      const worker = new pg.Client({ connectionString: fixture.db.url });
      await worker.connect();
      try {
        await worker.query('BEGIN');
        await worker.query(
          'SELECT 1 FROM queue_job_lock WHERE queue_job_id = (SELECT id FROM queue_job WHERE uuid = $1) FOR NO KEY UPDATE',
          [alive.uuid],
        );
        // A long dispatch timeout keeps this tick from racing the assertions below.
        const summary = await tick(
          testConfig({ databaseUrl: fixture.db.url, channels: 'root:1' }),
          silentLogger,
        );
        expect(summary.targets[0]?.liveness).toBe('lock_table');
        expect(summary.targets[0]?.swept.started).toBe(2);
        const rows = await fixture.db.pool.query(
          'SELECT uuid, state, retry FROM queue_job WHERE uuid = ANY($1)',
          [[alive.uuid, dead.uuid, orphan.uuid]],
        );
        const byUuid = Object.fromEntries(rows.rows.map((row) => [row.uuid, row]));
        expect(byUuid[alive.uuid]).toMatchObject({ state: 'started', retry: 0 });
        expect(byUuid[dead.uuid]?.retry).toBe(1);
        expect(byUuid[orphan.uuid]?.retry).toBe(1);
      } finally {
        await worker.query('ROLLBACK');
        await worker.end();
      }
    } finally {
      await fixture.db.pool.query('DROP TABLE queue_job_lock');
    }
  });
});

describe('baton and paused targets', () => {
  it('serializes passes with an advisory lock when the root channel row is missing', async () => {
    await createJobs(fixture.db.pool, 20);
    const root = await fixture.db.pool.query(`SELECT * FROM queue_job_channel WHERE complete_name = 'root'`);
    await fixture.db.pool.query(`DELETE FROM queue_job_channel WHERE complete_name = 'root'`);
    const transport = new DirectTransport(fixture.db.url);
    try {
      const tree = channelTree(parseChannels('root:3'));
      const passes = await Promise.all(Array.from({ length: 8 }, () => claimPass(transport, tree)));
      // Every pass that claimed took the fallback baton (a pass that found root full claims nothing).
      expect(passes.some((pass) => pass.rootBaton === false)).toBe(true);
      expect(passes.every((pass) => pass.rootBaton !== true)).toBe(true);
      expect(passes.reduce((n, pass) => n + pass.claimed.length, 0)).toBe(3);
    } finally {
      await transport.close();
      const row = root.rows[0];
      await fixture.db.pool.query(
        'INSERT INTO queue_job_channel (id, name, complete_name, removal_interval) VALUES ($1, $2, $3, $4)',
        [row.id, row.name, row.complete_name, row.removal_interval],
      );
    }
  });

  it('a target whose channels start with root:0 is paused: nothing is touched', async () => {
    const uuids = await createJobs(fixture.db.pool, 2);
    const summary = await tick(testConfig({ databaseUrl: fixture.db.url, channels: 'root:0' }), silentLogger);
    expect(summary.ok).toBe(true);
    expect(summary.targets[0]).toMatchObject({ paused: true, claimed: 0, passes: 0 });
    expect(Object.values(await jobStates(fixture.db.pool, uuids))).toEqual(['pending', 'pending']);
  });
});
