// Issue 11 item 1: a queue must not stall, silently, on started jobs no signal can judge. After a
// PostgreSQL restart, an Odoo that serves only job requests holds no connection at all, so the
// connection signal (`odoo-<pid>`, ODOO_PGAPPNAME) is not visible; dead started jobs fill the capacity
// and nothing is dispatched, so Odoo never opens one. The runner must make Odoo open a connection and
// judge again in the same pass, and say so when that does not help. Each test has its own database and
// stand-in, so no Odoo connection exists before the runner asks for one.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../shared/config.ts';
import { PROBE_UUID } from '../shared/liveness.ts';
import { silentLogger } from '../shared/log.ts';
import { collectStatus } from '../shared/status.ts';
import { tick } from '../shared/tick.ts';
import { createDatabase, setWebBaseUrl, type TestDatabase } from './support/db.ts';
import { createJobs } from './support/jobs.ts';
import { type OdooStandin, startOdoo } from './support/odoo.ts';
import { BRIDGE_SERVE_SCRIPT, findPython } from './support/python.ts';
import { captureLog, testConfig } from './support/runner.ts';

/** Pids of Odoo workers that died with their job (PostgreSQL restarted under them). */
const DEAD_PIDS = [4201, 4202, 4203, 4204];
const BACKLOG = 40;

let db: TestDatabase | undefined;
let odoo: OdooStandin | undefined;

afterEach(async () => {
  await odoo?.close();
  await db?.close();
  odoo = undefined;
  db = undefined;
});

async function setUp(applicationName?: string) {
  db = await createDatabase(inject('adminDatabaseUrl'));
  odoo = await startOdoo({
    databases: { [db.name]: db.url },
    workers: 8,
    ...(applicationName ? { applicationName } : {}),
  });
  await setWebBaseUrl(db.pool, odoo.url);
  // The four jobs at the head of the queue were started by workers that died: root:4 is full.
  const dead = await createJobs(db.pool, DEAD_PIDS.length);
  await db.pool.query(
    `UPDATE queue_job q SET state = 'started', worker_pid = d.pid,
       date_enqueued = now() AT TIME ZONE 'utc' - interval '2 minutes',
       date_started = now() AT TIME ZONE 'utc' - interval '2 minutes'
     FROM unnest($1::text[], $2::int[]) AS d(uuid, pid) WHERE q.uuid = d.uuid`,
    [dead, DEAD_PIDS],
  );
  await createJobs(db.pool, BACKLOG);
  return { db, odoo, dead };
}

async function odooConnections(database: TestDatabase, pattern = 'odoo-%'): Promise<number> {
  const { rows } = await database.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE $1`,
    [pattern],
  );
  return rows[0]!.n;
}

async function rowsOf(database: TestDatabase, uuids: string[]) {
  const { rows } = await database.pool.query<{ state: string; retry: number; worker_pid: number | null }>(
    'SELECT state, retry, worker_pid FROM queue_job WHERE uuid = ANY($1) ORDER BY id',
    [uuids],
  );
  return rows;
}

async function pendingCount(database: TestDatabase): Promise<number> {
  const { rows } = await database.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM queue_job WHERE state = 'pending'`,
  );
  return rows[0]!.n;
}

describe('started jobs no signal can judge', () => {
  it('makes Odoo open a connection, judges again in the same pass: one tick requeues the dead jobs and the backlog moves', async () => {
    const { db, odoo, dead } = await setUp();
    expect(await odooConnections(db)).toBe(0);
    const config = testConfig({ databaseUrl: db.url, channels: 'root:4' });

    const first = await tick(config, silentLogger);
    const target = first.targets[0]!;
    expect(target).toMatchObject({
      ok: true,
      liveness: 'connections',
      swept: { enqueued: 0, started: 4, failed: 0 },
      claimed: 4,
      dispatched: 4,
      unjudged: 0,
      warnings: [],
    });
    // The dead jobs went back to pending with retry + 1 (and ran at once: they head the queue).
    for (const row of await rowsOf(db, dead)) {
      expect(row.retry).toBe(2);
      expect(DEAD_PIDS).not.toContain(row.worker_pid);
    }
    // One request made Odoo select the database; it ran no job.
    const probes = odoo.requests.filter((r) => r.uuid === PROBE_UUID);
    expect(probes).toMatchObject([{ path: '/queue_job/runjob', db: db.name, status: 200, taken: false }]);
    expect(await odooConnections(db)).toBeGreaterThan(0);

    // The backlog moves: the next tick claims from it, and asks Odoo nothing more.
    const second = await tick(config, silentLogger);
    expect(second.targets[0]).toMatchObject({ claimed: 4, swept: { started: 0 }, warnings: [] });
    expect(await pendingCount(db)).toBe(BACKLOG - 4);
    expect(odoo.requests.filter((r) => r.uuid === PROBE_UUID)).toHaveLength(1);
  });

  it('names ODOO_PGAPPNAME when Odoo answered and still no connection carries that name', async () => {
    const { db, odoo, dead } = await setUp('erp-{pid}');
    const captured = captureLog('info');
    const config = testConfig({ databaseUrl: db.url, channels: 'root:4' });

    const summary = await tick(config, captured.log);
    const target = summary.targets[0]!;
    expect(target).toMatchObject({ liveness: 'none', claimed: 0, swept: { started: 0 }, unjudged: 4 });
    expect(target.warnings).toHaveLength(1);
    expect(target.warnings[0]).toMatch(/4 started job\(s\).*ODOO_PGAPPNAME.*odoo-\{pid\}/);
    expect(summary.warnings).toEqual([{ target: target.target, warning: target.warnings[0] }]);
    // The warning is in the logs, not only the summary.
    const logged = captured.entries().filter((entry) => entry.event === 'unjudged_started');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ severity: 'WARNING', unjudged: 4, probe: 'accepted' });
    expect(String(logged[0]!.message)).toMatch(/ODOO_PGAPPNAME/);
    // Odoo did connect, under its own name: the pattern is what is wrong.
    expect(odoo.requests.filter((r) => r.uuid === PROBE_UUID)).toMatchObject([{ status: 200 }]);
    expect(await odooConnections(db, 'erp-%')).toBeGreaterThan(0);
    // Invariant 5: without a signal, the started jobs are left alone.
    expect((await rowsOf(db, dead)).map((row) => row.state)).toEqual([
      'started',
      'started',
      'started',
      'started',
    ]);

    // status says the same.
    const report = await collectStatus(config, silentLogger);
    expect(report.targets[0]).toMatchObject({ liveness: 'none', deadCandidates: { unjudged: 4 } });
    expect(report.targets[0]!.warnings).toEqual([expect.stringMatching(/ODOO_PGAPPNAME/)]);

    // With the installation's pattern, one tick recovers.
    const fixed = { ...config, pgAppName: 'erp-{pid}' };
    const recovered = await tick(fixed, silentLogger);
    expect(recovered.targets[0]).toMatchObject({
      liveness: 'connections',
      swept: { started: 4 },
      claimed: 4,
    });
    expect(recovered.warnings).toEqual([]);
  });

  it('says Odoo did not answer when it cannot be reached, and leaves the jobs alone', async () => {
    const { db, odoo, dead } = await setUp();
    await odoo.sleep('refuse');
    const config = testConfig({ databaseUrl: db.url, channels: 'root:4' });
    const summary = await tick(config, silentLogger);
    const target = summary.targets[0]!;
    expect(target).toMatchObject({ liveness: 'none', claimed: 0, unjudged: 4 });
    expect(target.warnings).toEqual([expect.stringMatching(/could not be reached.*ODOO_URL/)]);
    expect((await rowsOf(db, dead)).every((row) => row.state === 'started')).toBe(true);
    const report = await collectStatus(config, silentLogger);
    expect(report.targets[0]!.warnings).toEqual([expect.stringMatching(/could not be reached/)]);
  });

  it('status makes Odoo open a connection too, and then judges the started jobs', async () => {
    const { db } = await setUp();
    const report = await collectStatus(testConfig({ databaseUrl: db.url, channels: 'root:4' }), silentLogger);
    expect(report.targets[0]).toMatchObject({
      liveness: 'connections',
      deadCandidates: { started: 4, unjudged: 0 },
      warnings: [],
    });
    // Status only reads: the jobs are still started.
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM queue_job WHERE state = 'started'`);
    expect(rows[0].n).toBe(4);
  });
});

const python = findPython();

describe.skipIf(!python.ok)('through the bridge', () => {
  it("the addon's own request is an Odoo connection: the dead jobs are judged without asking Odoo for one", async () => {
    const { db, odoo, dead } = await setUp();
    const token = 'a-bridge-token-of-at-least-32-characters';
    const digest = createHash('sha256').update(token).digest('hex');
    const child = spawn(
      python.ok ? python.command : 'python3',
      [BRIDGE_SERVE_SCRIPT, '--dsn', db.url, '--token-sha256', digest, '--port', '0', '--watch-stdin'],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const match = /listening on (\d+)/.exec(out);
          if (match) resolve(Number(match[1]));
        });
        child.on('exit', (code) => reject(new Error(`serve.py exited with ${code}`)));
      });
      const base = loadConfig({
        ODOO_URL: `http://127.0.0.1:${port}`,
        ODOO_BRIDGE_TOKEN: token,
        ODOO_DB: db.name,
        ODOO_QUEUE_JOB_CHANNELS: 'root:4',
      });
      const config = { ...base, windowSeconds: 0, startedGraceSeconds: 1 };
      const summary = await tick(config, silentLogger);
      expect(summary.targets[0]).toMatchObject({
        ok: true,
        liveness: 'connections',
        swept: { started: 4 },
        claimed: 4,
        unjudged: 0,
        warnings: [],
      });
      expect(odoo.requests.filter((r) => r.uuid === PROBE_UUID)).toEqual([]);
      for (const row of await rowsOf(db, dead)) expect(DEAD_PIDS).not.toContain(row.worker_pid);
    } finally {
      child.stdin.end();
      child.kill('SIGTERM');
    }
  });
});
