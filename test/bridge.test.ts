// The bridge transport end to end: ticks in TypeScript, the companion addon's real Python core behind
// its minimal HTTP wrapper (serve.py), the Odoo stand-in for /queue_job/runjob, real PostgreSQL. The
// design's invariants through the bridge, with ticks on both transports at once, and each way a bridge
// can be misconfigured answered by one error naming the setting, the jobs left pending.
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { normalizeChannel } from '../shared/channels.ts';
import { silentLogger } from '../shared/log.ts';
import { collectStatus } from '../shared/status.ts';
import { tick } from '../shared/tick.ts';
import { type Bridge, bridgeUnavailable, startBridge } from './support/bridge.ts';
import { capacityMonitor, expectWithinCapacities } from './support/capacity.ts';
import { setWebBaseUrl } from './support/db.ts';
import { useStandin } from './support/fixture.ts';
import { createChain, createJob, createJobs, jobStates, stateCounts } from './support/jobs.ts';
import { testConfig } from './support/runner.ts';

const fixture = useStandin({ poolMax: 20, workers: 48 });
const unavailable = bridgeUnavailable();
if (unavailable) console.warn(`[bridge] skipped: ${unavailable}`);

let bridge: Bridge;

beforeAll(async () => {
  if (unavailable) return;
  bridge = await startBridge(fixture.db.url, fixture.odoo.url);
  // Runjob requests follow the database's web.base.url: the Odoo host that also serves the addon.
  await setWebBaseUrl(fixture.db.pool, bridge.url);
}, 60_000);

afterAll(async () => {
  await bridge?.close();
});

beforeEach(() => {
  if (bridge) bridge.upstream = fixture.odoo.url;
});

const viaBridge = (options: Omit<Parameters<typeof testConfig>[0], 'databaseUrl' | 'bridge'> = {}) =>
  testConfig({ databaseUrl: fixture.db.url, bridge, ...options });

describe.skipIf(unavailable !== null)('bridge transport', () => {
  it('serves a target with only an Odoo URL and a token: every job to its end state, capacities held', async () => {
    const channels = 'root:6,root.sale:3,root.mail:2,root.seq:1:sequential';
    const spread = ['root', 'root.sale', 'root.mail', 'root.sale.eu', 'root.other'];
    const uuids = await createJobs(fixture.db.pool, 120, { channel: spread, priority: [10, 5, 20] });
    const sequential = await createJobs(fixture.db.pool, 10, { channel: 'root.seq' });
    const eta = await createJob(fixture.db.pool, { eta: 1 });
    const chain = await createChain(fixture.db.pool, 4);
    fixture.odoo.configure({ durationMs: (job) => 5 + (job.id % 7), failureRate: 0 });
    const monitor = capacityMonitor(fixture.db.pool, channels);
    let summaries = 0;
    try {
      while ((await stateCounts(fixture.db.pool)).done !== 135) {
        if (summaries++ > 30)
          throw new Error(`not done: ${JSON.stringify(await stateCounts(fixture.db.pool))}`);
        const summary = await tick(viaBridge({ channels, windowSeconds: 3 }), silentLogger);
        expect(summary.ok, JSON.stringify(summary.targets[0]?.errors)).toBe(true);
      }
    } finally {
      await monitor.stop();
    }
    await fixture.odoo.waitFor(() => fixture.odoo.counts().inFlight === 0, 5000);
    const all = [...uuids, ...sequential, eta.uuid, ...chain];
    expect(all.filter((uuid) => fixture.odoo.takenCount(uuid) !== 1)).toEqual([]);
    expectWithinCapacities(monitor, fixture.odoo, [
      ['root', 6],
      ['root.sale', 3],
      ['root.mail', 2],
      ['root.seq', 1],
    ]);
    expect(fixture.odoo.peakRunning('root')).toBeGreaterThanOrEqual(4);
    // Sequential: in OCA order, one at a time.
    const order = fixture.odoo.requests.filter((r) => sequential.includes(r.uuid ?? '')).map((r) => r.uuid);
    expect(order).toEqual(sequential);
  }, 90_000);

  it('with 8 bridge ticks and 4 direct ticks at once on one database: exactly once, every capacity held', async () => {
    const channels = 'root:12,root.a:4,root.a.b:2,root.c:3';
    const spread = ['root', 'root.a', 'root.a.b', 'root.c', 'root.a.b.deep', 'root.unconfigured'];
    const uuids = await createJobs(fixture.db.pool, 400, { channel: spread, priority: [10, 5, 20] });
    fixture.odoo.configure({ durationMs: (job) => 2 + (job.id % 5) });
    const monitor = capacityMonitor(fixture.db.pool, channels);
    const inserter = (async () => {
      for (let i = 0; i < 100; i++) {
        const job = await createJob(fixture.db.pool, { channel: spread[i % spread.length], priority: -i });
        uuids.push(job.uuid);
        await new Promise((resolve) => setTimeout(resolve, 8));
      }
    })();
    let replans = 0;
    let rounds = 0;
    const failed: string[] = [];
    try {
      while ((await stateCounts(fixture.db.pool)).done !== 500) {
        if (rounds++ > 40) throw new Error(`not done: ${JSON.stringify(await stateCounts(fixture.db.pool))}`);
        const ticks = await Promise.all([
          ...Array.from({ length: 8 }, () => tick(viaBridge({ channels, windowSeconds: 2 }), silentLogger)),
          ...Array.from({ length: 4 }, () =>
            tick(testConfig({ databaseUrl: fixture.db.url, channels, windowSeconds: 2 }), silentLogger),
          ),
        ]);
        failed.push(...ticks.filter((t) => !t.ok).flatMap((t) => t.targets[0]?.errors ?? []));
        replans += ticks.reduce((n, t) => n + (t.targets[0]?.replans ?? 0), 0);
      }
    } finally {
      await inserter;
      await monitor.stop();
    }
    await fixture.odoo.waitFor(() => fixture.odoo.counts().inFlight === 0, 5000);
    expect(uuids).toHaveLength(500);
    expect(uuids.filter((uuid) => fixture.odoo.takenCount(uuid) !== 1)).toEqual([]);
    expect(fixture.odoo.notTakenCount()).toBe(0);
    expectWithinCapacities(monitor, fixture.odoo, [
      ['root', 12],
      ['root.a', 4],
      ['root.a.b', 2],
      ['root.c', 3],
    ]);
    expect(fixture.odoo.peakRunning('root')).toBeGreaterThanOrEqual(6);
    expect(failed).toEqual([]);
    // The proof did work: overlapping passes were overtaken and planned again rather than overrunning.
    console.log(`[bridge] mixed ticks: ${rounds} rounds, ${replans} re-plans`);
    expect(replans).toBeGreaterThan(0);
  }, 300_000);

  it('claims before it sends (the row is enqueued when Odoo sees the request) and leaves other states alone', async () => {
    const seen: (string | undefined)[] = [];
    const probe = fixture.odoo.events;
    const onRequest = (request: { path: string; uuid: string | null }) => {
      if (request.path !== '/queue_job/runjob') return;
      void fixture.db.pool
        .query<{ state: string }>('SELECT state FROM queue_job WHERE uuid = $1', [request.uuid])
        .then(({ rows }) => seen.push(rows[0]?.state));
    };
    fixture.odoo.configure({ durationMs: 300 });
    probe.on('request', onRequest);
    const states = ['done', 'cancelled', 'failed', 'wait_dependencies'] as const;
    for (const state of states) await createJobs(fixture.db.pool, 2, { state });
    const before = await fixture.db.pool.query(`SELECT * FROM queue_job ORDER BY id`);
    await createJobs(fixture.db.pool, 5);
    try {
      const summary = await tick(viaBridge({ channels: 'root:10', dispatchTimeoutMs: 100 }), silentLogger);
      expect(summary.targets[0]).toMatchObject({ claimed: 5, dispatched: 5 });
    } finally {
      await fixture.odoo.waitFor(() => fixture.odoo.counts().inFlight === 0, 5000);
      probe.off('request', onRequest);
    }
    await fixture.odoo.waitFor(() => seen.length === 5, 5000);
    // Read while the stand-in held the job: enqueued (claimed) or already started, never pending.
    expect(seen.every((state) => state === 'enqueued' || state === 'started')).toBe(true);
    const after = await fixture.db.pool.query(`SELECT * FROM queue_job WHERE id = ANY($1) ORDER BY id`, [
      before.rows.map((row) => row.id),
    ]);
    expect(after.rows).toEqual(before.rows);
  });

  it('sweeps a lost enqueued job and requeues a started job whose worker died, through the bridge', async () => {
    const lost = await createJob(fixture.db.pool);
    await fixture.db.pool.query(
      `UPDATE queue_job SET state = 'enqueued', date_enqueued = date_trunc('seconds', now() AT TIME ZONE 'utc') - interval '90 seconds' WHERE uuid = $1`,
      [lost.uuid],
    );
    const dead = await createJob(fixture.db.pool, { state: 'started' });
    await fixture.db.pool.query(
      `UPDATE queue_job SET worker_pid = 999999, date_started = (now() AT TIME ZONE 'utc') - interval '1 minute' WHERE uuid = $1`,
      [dead.uuid],
    );
    // Odoo's connections are visible (a running Odoo has some): the signal is trusted.
    const other = await import('pg').then(
      ({ default: pg }) => new pg.Client({ connectionString: fixture.db.url, application_name: 'odoo-1' }),
    );
    await other.connect();
    try {
      const summary = await tick(viaBridge({ startedGraceSeconds: 0 }), silentLogger);
      expect(summary.targets[0]).toMatchObject({ swept: { enqueued: 1, started: 1, failed: 0 } });
      expect(summary.targets[0]?.liveness).toBe('connections');
    } finally {
      await other.end();
    }
    await tick(viaBridge({ startedGraceSeconds: 0 }), silentLogger);
    await fixture.odoo.waitFor(() => fixture.odoo.counts().inFlight === 0, 5000);
    expect(await jobStates(fixture.db.pool, [lost.uuid, dead.uuid])).toEqual({
      [lost.uuid]: 'done',
      [dead.uuid]: 'done',
    });
  });

  it('keeps OCA order and a throttled channel to one job per pass interval', async () => {
    const low = await createJob(fixture.db.pool, { priority: 20 });
    const high = await createJob(fixture.db.pool, { priority: 1 });
    const mid = await createJob(fixture.db.pool, { priority: 10 });
    // Ticks until all three ran (however loaded the machine), then the order Odoo saw them in.
    const three = [low.uuid, high.uuid, mid.uuid];
    for (let i = 0; i < 20 && (await stateCounts(fixture.db.pool)).done !== 3; i++)
      await tick(viaBridge({ channels: 'root:1', windowSeconds: 1 }), silentLogger);
    const order = fixture.odoo.requests.filter((r) => three.includes(r.uuid ?? ''));
    expect(order.map((r) => r.uuid)).toEqual([high.uuid, mid.uuid, low.uuid]);
    const api = await createJobs(fixture.db.pool, 2, { channel: 'root.api' });
    for (let i = 0; i < 20; i++) {
      const states = Object.values(await jobStates(fixture.db.pool, api));
      if (states.every((state) => state === 'done')) break;
      await tick(viaBridge({ channels: 'root:4,root.api:2:throttle=1', windowSeconds: 2 }), silentLogger);
    }
    const { rows } = await fixture.db.pool.query<{ s: number }>(
      `SELECT extract(epoch FROM date_enqueued)::float8 AS s FROM queue_job WHERE uuid = ANY($1) ORDER BY id`,
      [api],
    );
    // date_enqueued is whole seconds: two throttled claims never share one.
    expect(rows).toHaveLength(2);
    expect(rows[1]!.s).toBeGreaterThan(rows[0]!.s);
  });

  it('dispatches by uuid and reports status (JSON) through the bridge', async () => {
    const job = await createJob(fixture.db.pool, { eta: 3600 });
    const { manualDispatch } = await import('../shared/manual.ts');
    const config = viaBridge({ channels: 'root:2' });
    const report = await manualDispatch(config, silentLogger, { uuids: [job.uuid, 'nope'] });
    expect(report.results.map((r) => r.result)).toEqual(['dispatched', 'not_found']);
    await createJobs(fixture.db.pool, 3, { channel: 'root.x' });
    const status = await collectStatus(config, silentLogger);
    expect(status.ok).toBe(true);
    expect(status.targets[0]?.database).toMatch(/^bridge at http:\/\/127\.0\.0\.1:\d+$/);
    expect(status.targets[0]?.channels.find((c) => c.channel === 'root')?.jobs.pending).toBe(3);
    expect(normalizeChannel('x')).toBe('root.x');
  });
});

describe.skipIf(unavailable !== null)('bridge: keepalive and the built-in runner', () => {
  it('keepalive pings the Odoo the database names (web.base.url read through the addon)', async () => {
    const { keepalive } = await import('../shared/keepalive.ts');
    const report = await keepalive(viaBridge(), silentLogger);
    expect(report.ok).toBe(true);
    expect(report.results.map((r) => r.url)).toEqual([`${bridge.url}/web/health`]);
  });

  it("dispatches nothing while queue_job's built-in runner holds its lock, seen through the addon", async () => {
    const pg = (await import('pg')).default;
    const upstream = new pg.Client({ connectionString: fixture.db.url, application_name: 'odoo-77' });
    await upstream.connect();
    try {
      await upstream.query('SELECT pg_advisory_lock(2293787760715711918)');
      const uuids = await createJobs(fixture.db.pool, 2);
      const summary = await tick(viaBridge(), silentLogger);
      expect(summary.targets[0]).toMatchObject({ upstreamRunner: true, claimed: 0 });
      expect(summary.targets[0]?.errors.join(' ')).toMatch(/root:0/);
      expect(Object.values(await jobStates(fixture.db.pool, uuids))).toEqual(['pending', 'pending']);
    } finally {
      await upstream.end();
    }
  });
});

describe.skipIf(unavailable !== null)(
  'bridge misconfiguration: one error naming the setting, jobs stay pending',
  () => {
    it('a wrong token is refused (401) and names ODOO_BRIDGE_TOKEN and the system parameter', async () => {
      const uuids = await createJobs(fixture.db.pool, 3);
      const config = testConfig({
        databaseUrl: fixture.db.url,
        bridge: { url: bridge.url, token: 'x'.repeat(32) },
      });
      const summary = await tick(config, silentLogger);
      expect(summary.ok).toBe(false);
      const errors = summary.targets[0]?.errors.join(' ') ?? '';
      expect(errors).toMatch(
        /refused the token: check ODOO_BRIDGE_TOKEN .*queue_job_runner_bridge\.token_sha256/,
      );
      expect(errors).not.toContain('x'.repeat(32));
      expect(Object.values(await jobStates(fixture.db.pool, uuids))).toEqual([
        'pending',
        'pending',
        'pending',
      ]);
    });

    it('an addon answering from another database than ODOO_DB is refused, naming ODOO_DB', async () => {
      const uuids = await createJobs(fixture.db.pool, 2);
      const config = testConfig({ databaseUrl: fixture.db.url, bridge, env: { ODOO_DB: 'qjr_other' } });
      const summary = await tick(config, silentLogger);
      expect(summary.targets[0]?.errors.join(' ')).toMatch(
        /Odoo served the bridge from database "qjr_test_[^"]+", not "qjr_other": check ODOO_DB/,
      );
      expect(Object.values(await jobStates(fixture.db.pool, uuids))).toEqual(['pending', 'pending']);
    });

    it('an Odoo without the addon (404) names ODOO_URL and the addon', async () => {
      const uuids = await createJobs(fixture.db.pool, 2);
      const config = testConfig({
        databaseUrl: fixture.db.url,
        bridge: { url: fixture.odoo.url, token: bridge.token },
      });
      const summary = await tick(config, silentLogger);
      expect(summary.targets[0]?.errors.join(' ')).toMatch(
        /no bridge at ODOO_URL \(404\): install the queue_job_runner_bridge addon/,
      );
      expect(Object.values(await jobStates(fixture.db.pool, uuids))).toEqual(['pending', 'pending']);
    });

    it('an addon of another release (catalogue mismatch) is refused, naming both releases', async () => {
      const catalogue = JSON.parse(readFileSync('odoo/queue_job_runner_bridge/catalogue.json', 'utf8'));
      const older = { ...catalogue, version: '0.1.9', statements: { ...catalogue.statements } };
      older.statements.qjr_database_now = `${older.statements.qjr_database_now} `;
      // serve.py refuses a file whose digest does not match its statements: recompute it as the generator does.
      const { createHash } = await import('node:crypto');
      const hash = createHash('sha256');
      for (const name of Object.keys(older.statements).sort())
        hash.update(`${name}\u0000${older.statements[name]}\u0000`);
      older.sha256 = hash.digest('hex');
      const file = join(tmpdir(), `qjr-old-catalogue-${process.pid}.json`);
      writeFileSync(file, JSON.stringify(older));
      const old = await startBridge(fixture.db.url, fixture.odoo.url, {
        catalogue: file,
        token: bridge.token,
      });
      try {
        const uuids = await createJobs(fixture.db.pool, 2);
        const summary = await tick(testConfig({ databaseUrl: fixture.db.url, bridge: old }), silentLogger);
        expect(summary.targets[0]?.errors.join(' ')).toMatch(
          /the bridge addon \(release \S+, catalogue ([0-9a-f]{12})\) does not match this runner \(release \d+\.\d+\.\d+, catalogue (?!\1)[0-9a-f]{12}\)/,
        );
        expect(Object.values(await jobStates(fixture.db.pool, uuids))).toEqual(['pending', 'pending']);
      } finally {
        await old.close();
      }
    });
  },
);
