// The design's invariants 1–6, each with a test that fails when it is broken, against real PostgreSQL
// and the Odoo stand-in, on every queue_job series the stand-in plays (16.0 and 17.0 without the lock
// table, 18.0 with it, 19.0 with it and header routing).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../shared/log.ts';
import { tick } from '../shared/tick.ts';
import { capacityMonitor, expectWithinCapacities } from './support/capacity.ts';
import { useStandin } from './support/fixture.ts';
import { createChain, createJob, createJobs, jobStates, stateCounts } from './support/jobs.ts';
import { hasLockTable, SERIES } from './support/odoo.ts';
import { testConfig } from './support/runner.ts';

const fixture = useStandin({ poolMax: 20, workers: 48 });

/**
 * Ticks until the sweep acted (a crashed worker's connection takes a moment to leave
 * pg_stat_activity), at most 50 times; returns the tick that swept.
 */
async function tickUntilSwept(config: ReturnType<typeof testConfig>, what: 'started' | 'failed') {
  // Another Odoo worker stays connected, as in a running Odoo: without any `odoo-<pid>` connection the
  // connections signal is not trusted (16.0/17.0), whatever ran before this test.
  const other = new pg.Client({ connectionString: fixture.db.url, application_name: 'odoo-1' });
  await other.connect();
  try {
    for (let i = 0; ; i++) {
      const summary = await tick(config, silentLogger);
      if ((summary.targets[0]?.swept[what] ?? 0) > 0 || i >= 50) return summary;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await other.end();
  }
}

describe.each(SERIES)('queue_job %s', (series) => {
  beforeAll(() => fixture.odoo.setSeries(series));
  afterAll(() => fixture.odoo.setSeries('17.0'));

  describe('invariant 1: claim before send', () => {
    let probe: Server;
    let probeUrl: string;
    const seen: { uuid: string; state: string | undefined }[] = [];

    beforeAll(async () => {
      // An Odoo that only looks: at arrival, the row must already be committed as enqueued.
      probe = createServer(async (req, res) => {
        const uuid = new URL(req.url ?? '/', 'http://x').searchParams.get('job_uuid') ?? '';
        const { rows } = await fixture.db.pool.query<{ state: string }>(
          'SELECT state FROM queue_job WHERE uuid = $1',
          [uuid],
        );
        seen.push({ uuid, state: rows[0]?.state });
        res.end('');
      });
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      probeUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => probe.close(() => resolve())));

    it('sends only jobs whose enqueued claim is already committed', async () => {
      seen.length = 0;
      await createJobs(fixture.db.pool, 20);
      const summary = await tick(
        testConfig({ databaseUrl: fixture.db.url, odooUrl: probeUrl, channels: 'root:20' }),
        silentLogger,
      );
      expect(summary.targets[0]?.dispatched).toBe(20);
      expect(seen).toHaveLength(20);
      expect(seen.every((s) => s.state === 'enqueued')).toBe(true);
    });

    it('never sends a row it did not get back from the claim (a row locked elsewhere is skipped)', async () => {
      seen.length = 0;
      const uuids = await createJobs(fixture.db.pool, 6);
      const holder = new pg.Client({ connectionString: fixture.db.url });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        // Someone (an Odoo user editing the job) holds two rows.
        await holder.query('SELECT id FROM queue_job WHERE uuid = ANY($1) FOR UPDATE', [uuids.slice(0, 2)]);
        const summary = await tick(
          testConfig({ databaseUrl: fixture.db.url, odooUrl: probeUrl, channels: 'root:10' }),
          silentLogger,
        );
        expect(summary.targets[0]?.claimed).toBe(4);
        expect(seen.map((s) => s.uuid).sort()).toEqual(uuids.slice(2).sort());
      } finally {
        await holder.query('ROLLBACK');
        await holder.end();
      }
      expect(Object.values(await jobStates(fixture.db.pool, uuids.slice(0, 2)))).toEqual([
        'pending',
        'pending',
      ]);
    });
  });

  describe('invariants 2 and 3: never twice, capacity holds, with 8 ticks at once', () => {
    // Full size on the default series; the others run a third of it (four series on a shared machine).
    const bulk = series === '17.0' ? 600 : 200;
    const arriving = series === '17.0' ? 150 : 50;
    it(`runs ${bulk + arriving} jobs in 4 channels (a limited sub-channel under a limited parent) exactly once`, async () => {
      const channels = 'root:12,root.a:4,root.a.b:2,root.c:3';
      const spread = ['root', 'root.a', 'root.a.b', 'root.c', 'root.a.b.deep', 'root.unconfigured'];
      const uuids = await createJobs(fixture.db.pool, bulk, { channel: spread, priority: [10, 5, 20] });
      fixture.odoo.configure({ durationMs: (job) => 2 + (job.id % 5) });
      const monitor = capacityMonitor(fixture.db.pool, channels);
      // Earlier tests of this stand-in may have asked it for a job that does not exist (the runner does
      // so to make Odoo connect when started jobs cannot be judged): count this test's requests only.
      const notTakenBefore = fixture.odoo.notTakenCount();
      // Nothing crashes here: a grace as long as upstream's keeps a worker that the loaded machine
      // pauses between committing `started` and locking its lock row (18.0+) from being judged dead.
      const config = testConfig({
        databaseUrl: fixture.db.url,
        channels,
        windowSeconds: 2,
        startedGraceSeconds: 10,
      });
      // While the ticks run, ever more urgent jobs keep arriving: passes that read different heads are
      // what a missing baton would let overrun a channel.
      const inserter = (async () => {
        for (let i = 0; i < arriving; i++) {
          const job = await createJob(fixture.db.pool, { channel: spread[i % spread.length], priority: -i });
          uuids.push(job.uuid);
          await new Promise((resolve) => setTimeout(resolve, 8));
        }
      })();
      // Bounded in rounds, not in time: a loaded machine takes more rounds, never a different result.
      let rounds = 0;
      try {
        while ((await stateCounts(fixture.db.pool)).done !== bulk + arriving) {
          if (rounds++ >= 60)
            throw new Error(`not done: ${JSON.stringify(await stateCounts(fixture.db.pool))}`);
          const ticks = await Promise.all(Array.from({ length: 8 }, () => tick(config, silentLogger)));
          expect(ticks.every((t) => t.ok)).toBe(true);
        }
      } finally {
        await inserter;
        await monitor.stop();
      }
      await fixture.odoo.waitFor(() => fixture.odoo.counts().inFlight === 0, 5000);
      expect(uuids).toHaveLength(bulk + arriving);
      // Never twice: every job taken by Odoo exactly once, and no request ever found a job not enqueued.
      expect(uuids.filter((uuid) => fixture.odoo.takenCount(uuid) !== 1)).toEqual([]);
      expect(fixture.odoo.notTakenCount()).toBe(notTakenBefore);
      // Capacity: neither the rows nor Odoo ever saw more than each channel allows.
      expectWithinCapacities(monitor, fixture.odoo, [
        ['root', 12],
        ['root.a', 4],
        ['root.a.b', 2],
        ['root.c', 3],
      ]);
      // The capacity was actually used (the test would pass vacuously otherwise).
      expect(fixture.odoo.peakRunning('root')).toBeGreaterThanOrEqual(6);
    }, 300_000);
  });

  describe('invariant 4: nothing lost', () => {
    it('puts every claimed job back to pending when Odoo refuses connections', async () => {
      const uuids = await createJobs(fixture.db.pool, 8);
      await fixture.odoo.sleep('refuse');
      try {
        const summary = await tick(
          testConfig({ databaseUrl: fixture.db.url, channels: 'root:8' }),
          silentLogger,
        );
        expect(summary.ok).toBe(false);
        expect(summary.targets[0]).toMatchObject({ claimed: 8, reverted: 8, dispatched: 0 });
        expect(summary.targets[0]?.errors.join(' ')).toMatch(/could not be reached/);
      } finally {
        await fixture.odoo.wake();
      }
      expect(Object.values(await jobStates(fixture.db.pool, uuids)).every((s) => s === 'pending')).toBe(true);
      const again = await tick(testConfig({ databaseUrl: fixture.db.url, channels: 'root:8' }), silentLogger);
      expect(again.targets[0]?.dispatched).toBe(8);
    });

    it('recovers a job claimed by a runner that died before sending, after ENQUEUED_TIMEOUT_SECONDS', async () => {
      const job = await createJob(fixture.db.pool);
      // The claim committed, then the function was killed: enqueued, never sent, 90 s ago.
      await fixture.db.pool.query(
        `UPDATE queue_job SET state = 'enqueued', date_enqueued = date_trunc('seconds', now() AT TIME ZONE 'utc') - interval '90 seconds' WHERE uuid = $1`,
        [job.uuid],
      );
      const early = await tick(
        testConfig({ databaseUrl: fixture.db.url, enqueuedTimeoutSeconds: 120 }),
        silentLogger,
      );
      expect(early.targets[0]?.swept.enqueued).toBe(0);
      expect((await jobStates(fixture.db.pool, [job.uuid]))[job.uuid]).toBe('enqueued');
      const late = await tick(
        testConfig({ databaseUrl: fixture.db.url, enqueuedTimeoutSeconds: 60 }),
        silentLogger,
      );
      expect(late.targets[0]).toMatchObject({ swept: { enqueued: 1 }, dispatched: 1 });
      expect((await jobStates(fixture.db.pool, [job.uuid]))[job.uuid]).toBe('done');
    });
  });

  describe('invariant 5: hands off', () => {
    it('never changes wait_dependencies, done, cancelled or failed rows', async () => {
      const states = ['done', 'cancelled', 'failed', 'wait_dependencies'] as const;
      for (const state of states) await createJobs(fixture.db.pool, 3, { state });
      await createChain(fixture.db.pool, 3);
      const before = await fixture.db.pool.query(
        `SELECT * FROM queue_job WHERE state <> 'pending' ORDER BY id`,
      );
      const summary = await tick(
        testConfig({ databaseUrl: fixture.db.url, channels: 'root:50' }),
        silentLogger,
      );
      expect(summary.targets[0]?.claimed).toBe(1); // the chain's head only
      const after = await fixture.db.pool.query(`SELECT * FROM queue_job WHERE id = ANY($1) ORDER BY id`, [
        before.rows.map((row) => row.id),
      ]);
      // The chain's second job may be released by Odoo once its parent is done: that is Odoo, not us.
      const untouched = (rows: { graph_uuid: string | null }[]) =>
        rows.filter((row) => row.graph_uuid === null);
      expect(untouched(after.rows)).toEqual(untouched(before.rows));
    });

    it('never requeues a started job whose worker is alive, however long it runs', async () => {
      fixture.odoo.configure({ durationMs: 3000 });
      const job = await createJob(fixture.db.pool);
      const config = testConfig({
        databaseUrl: fixture.db.url,
        windowSeconds: 2,
        dispatchTimeoutMs: 200,
        startedGraceSeconds: 0,
      });
      const first = await tick(config, silentLogger);
      expect(first.targets[0]?.outcomes.running).toBe(1);
      expect(first.targets[0]?.liveness).toBe(
        hasLockTable(fixture.odoo.series) ? 'lock_table' : 'connections',
      );
      expect(first.targets[0]?.swept).toEqual({ enqueued: 0, started: 0, failed: 0 });
      await fixture.odoo.waitFor(() => fixture.odoo.counts().inFlight === 0, 5000);
      expect((await jobStates(fixture.db.pool, [job.uuid]))[job.uuid]).toBe('done');
      expect(fixture.odoo.takenCount(job.uuid)).toBe(1);
    });

    it('requeues a crashed started job with retry + 1, and it then completes', async () => {
      const job = await createJob(fixture.db.pool);
      const crashedBefore = fixture.odoo.counts().crashed;
      fixture.odoo.crashNext(1);
      const config = testConfig({ databaseUrl: fixture.db.url, startedGraceSeconds: 0 });
      await tick(config, silentLogger);
      await fixture.odoo.waitFor(() => fixture.odoo.counts().crashed === crashedBefore + 1, 5000);
      const crashed = await fixture.db.pool.query('SELECT state, retry FROM queue_job WHERE uuid = $1', [
        job.uuid,
      ]);
      expect(crashed.rows[0]).toEqual({ state: 'started', retry: 0 });
      // The dead worker's connection leaves pg_stat_activity (or frees its lock row) a moment later.
      const next = await tickUntilSwept(config, 'started');
      expect(next.targets[0]?.swept.started).toBe(1);
      expect(next.targets[0]?.dispatched).toBe(1);
      const done = await fixture.db.pool.query('SELECT state, retry FROM queue_job WHERE uuid = $1', [
        job.uuid,
      ]);
      expect(done.rows[0]).toEqual({ state: 'done', retry: 2 });
    });

    it('fails a crashed job as JobFoundDead once its retries are exhausted', async () => {
      const job = await createJob(fixture.db.pool, { retry: 4, maxRetries: 5 });
      const crashedBefore = fixture.odoo.counts().crashed;
      fixture.odoo.crashNext(1);
      const config = testConfig({ databaseUrl: fixture.db.url, startedGraceSeconds: 0 });
      await tick(config, silentLogger);
      await fixture.odoo.waitFor(() => fixture.odoo.counts().crashed === crashedBefore + 1, 5000);
      const next = await tickUntilSwept(config, 'failed');
      expect(next.targets[0]?.swept.failed).toBe(1);
      const row = await fixture.db.pool.query(
        'SELECT state, retry, exc_name FROM queue_job WHERE uuid = $1',
        [job.uuid],
      );
      expect(row.rows[0]).toEqual({ state: 'failed', retry: 5, exc_name: 'JobFoundDead' });
    });

    it('never sweeps a started job whose worker is alive by its signal, whatever ODOO_PGAPPNAME says', async () => {
      const job = await createJob(fixture.db.pool, { state: 'pending' });
      await fixture.db.pool.query(
        `UPDATE queue_job SET state = 'started', worker_pid = 999999, date_started = now() AT TIME ZONE 'utc' - interval '1 hour' WHERE uuid = $1`,
        [job.uuid],
      );
      const config = {
        ...testConfig({ databaseUrl: fixture.db.url, startedGraceSeconds: 0 }),
        pgAppName: 'elsewhere-{pid}',
      };
      if (!hasLockTable(fixture.odoo.series)) {
        // No lock table and no connection under the pattern: no signal, so the job is left alone, even
        // after Odoo was asked to connect (it did, under its own name), and the tick says why.
        const summary = await tick(config, silentLogger);
        expect(summary.targets[0]?.liveness).toBe('none');
        expect(summary.targets[0]?.warnings).toEqual([
          expect.stringMatching(/ODOO_PGAPPNAME 'elsewhere-\{pid\}'/),
        ]);
        expect((await jobStates(fixture.db.pool, [job.uuid]))[job.uuid]).toBe('started');
        return;
      }
      // 18.0+: a live worker holds its lock row for the whole job; that is the signal.
      const worker = new pg.Client({ connectionString: fixture.db.url });
      await worker.connect();
      try {
        await worker.query('BEGIN');
        await worker.query(
          `INSERT INTO queue_job_lock (id, queue_job_id) SELECT id, id FROM queue_job WHERE uuid = $1`,
          [job.uuid],
        );
        await worker.query('COMMIT');
        await worker.query('BEGIN');
        await worker.query(
          'SELECT 1 FROM queue_job_lock WHERE queue_job_id = (SELECT id FROM queue_job WHERE uuid = $1) FOR NO KEY UPDATE',
          [job.uuid],
        );
        const summary = await tick(config, silentLogger);
        expect(summary.targets[0]?.liveness).toBe('lock_table');
        expect((await jobStates(fixture.db.pool, [job.uuid]))[job.uuid]).toBe('started');
      } finally {
        await worker.query('ROLLBACK').catch(() => {});
        await worker.end();
      }
    });
  });

  describe('invariant 6: OCA order', () => {
    it('dispatches by (priority, date_created, id) inside a capacity-1 channel, and respects eta', async () => {
      const t0 = Date.now() - 60_000;
      const late = await createJob(fixture.db.pool, { priority: 10, dateCreated: new Date(t0 + 2000) });
      const early = await createJob(fixture.db.pool, { priority: 10, dateCreated: new Date(t0 + 1000) });
      const urgent = await createJob(fixture.db.pool, { priority: 1, dateCreated: new Date(t0 + 5000) });
      const sameTimeA = await createJob(fixture.db.pool, { priority: 10, dateCreated: new Date(t0 + 3000) });
      const sameTimeB = await createJob(fixture.db.pool, { priority: 10, dateCreated: new Date(t0 + 3000) });
      const future = await createJob(fixture.db.pool, { priority: 0, eta: 3600 });
      const config = testConfig({ databaseUrl: fixture.db.url, channels: 'root:1' });
      const order: string[] = [];
      for (let i = 0; i < 6; i++) {
        const summary = await tick(config, silentLogger);
        if (summary.targets[0]?.claimed === 0) break;
      }
      for (const request of fixture.odoo.requests)
        if (request.uuid && request.taken) order.push(request.uuid);
      expect(order.slice(-5)).toEqual([urgent.uuid, early.uuid, late.uuid, sameTimeA.uuid, sameTimeB.uuid]);
      expect((await jobStates(fixture.db.pool, [future.uuid]))[future.uuid]).toBe('pending');
    });
  });
});
