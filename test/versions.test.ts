// What upstream added or does differently across queue_job 16.0-19.0, against a real PostgreSQL and
// the Odoo stand-in: 18.0's channel options (paused, capacity_default, sequential_default) and the
// candidate read for channels whose short spelling is another channel.
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { silentLogger } from '../shared/log.ts';
import { manualDispatch } from '../shared/manual.ts';
import { renderPrometheus } from '../shared/prometheus.ts';
import { collectStatus } from '../shared/status.ts';
import { tick } from '../shared/tick.ts';
import { createDatabase } from './support/db.ts';
import { useStandin } from './support/fixture.ts';
import { createJob, createJobs, jobStates, stateCounts } from './support/jobs.ts';
import { startOdoo } from './support/odoo.ts';
import { captureLog, testConfig } from './support/runner.ts';

const fixture = useStandin();

async function tickOnce(channels: string) {
  const summary = await tick(testConfig({ databaseUrl: fixture.db.url, channels }), silentLogger);
  expect(summary.ok).toBe(true);
  return summary.targets[0]!;
}

describe('18.0 channel option paused (OCA/queue#960)', () => {
  it('a paused channel and its sub-channels yield nothing; other channels run; status says paused', async () => {
    const held = [
      ...(await createJobs(fixture.db.pool, 2, { channel: 'root.a' })),
      ...(await createJobs(fixture.db.pool, 2, { channel: 'root.a.b' })),
    ];
    const free = await createJobs(fixture.db.pool, 2, { channel: 'root.b' });
    const target = await tickOnce('root:4,a:2:paused,a.b:1');
    expect(target.claimed).toBe(2);
    expect(Object.values(await jobStates(fixture.db.pool, held))).toEqual(Array(4).fill('pending'));
    await fixture.odoo.waitFor(() => free.every((uuid) => fixture.odoo.takenCount(uuid) === 1));
    expect(held.every((uuid) => fixture.odoo.takenCount(uuid) === 0)).toBe(true);
    expect(free.every((uuid) => fixture.odoo.takenCount(uuid) === 1)).toBe(true);

    const report = await collectStatus(
      testConfig({ databaseUrl: fixture.db.url, channels: 'root:4,a:2:paused,a.b:1' }),
      silentLogger,
    );
    const channels = report.targets[0]!.channels;
    expect(channels.find((c) => c.channel === 'root.a')).toMatchObject({ paused: true, capacity: 2 });
    expect(channels.find((c) => c.channel === 'root.a.b')).toMatchObject({ paused: false });
    expect(channels.find((c) => c.channel === 'root.a')?.jobs.pending).toBe(2);
  });

  it('a paused root dispatches nothing', async () => {
    const uuids = await createJobs(fixture.db.pool, 3, { channel: ['root', 'root.x'] });
    const target = await tickOnce('root:4:paused');
    expect(target.claimed).toBe(0);
    expect(Object.values(await jobStates(fixture.db.pool, uuids))).toEqual(Array(3).fill('pending'));
  });
});

describe('18.0 channel options capacity_default / sequential_default (OCA/queue#767)', () => {
  it('capacity_default caps each auto-created sub-channel (root.sub.auto → 2)', async () => {
    const auto = await createJobs(fixture.db.pool, 3, { channel: 'root.sub.auto' });
    expect((await tickOnce('root:10,sub:3:capacity_default=2')).claimed).toBe(2);
    await fixture.odoo.waitFor(() => auto.filter((uuid) => fixture.odoo.takenCount(uuid) === 1).length === 2);
    await fixture.db.pool.query('DELETE FROM queue_job');
    await createJobs(fixture.db.pool, 3, { channel: 'root.sub.auto' });
    await createJobs(fixture.db.pool, 3, { channel: 'root.sub.other' });
    // root.sub.auto 2 (its default), then root.sub.other 1 (root.sub's own 3 is then full)
    expect((await tickOnce('root:10,sub:3:capacity_default=2')).claimed).toBe(3);
  });

  it('sequential_default: a failed job blocks its auto-created sub-channel only', async () => {
    await createJob(fixture.db.pool, { channel: 'root.seq.a', state: 'failed' });
    const blocked = await createJobs(fixture.db.pool, 2, { channel: 'root.seq.a' });
    const sibling = await createJobs(fixture.db.pool, 1, { channel: 'root.seq.b' });
    const target = await tickOnce('root:10,seq:4:capacity_default=1:sequential_default');
    expect(target.claimed).toBe(1);
    expect(Object.values(await jobStates(fixture.db.pool, blocked))).toEqual(['pending', 'pending']);
    await fixture.odoo.waitFor(() => fixture.odoo.takenCount(sibling[0]!) === 1);
  });
});

describe('candidate read: a closed channel whose short spelling is another channel hides nothing', () => {
  it.each([
    // [channels, channel of the running job, channels of the pending jobs that must be read]
    ['root:4,root.root:1', 'root.root', ['root', 'root.x', 'x']],
    ['root:4,root.:1', 'root.', ['', 'root', 'y']],
    ['root:4,root.root.x:1', 'root.root.x', ['root.x', 'x', 'root.x.y']],
  ])('%s with a job running in %j', async (channels, running, pendingIn) => {
    await createJob(fixture.db.pool, { channel: running, state: 'started' });
    const uuids = await createJobs(fixture.db.pool, pendingIn.length, { channel: pendingIn });
    const target = await tickOnce(channels);
    // root has 3 free slots: one job of each of the three other channels
    expect(target.claimed).toBe(3);
    await fixture.odoo.waitFor(() => uuids.every((uuid) => fixture.odoo.takenCount(uuid) === 1));
  });
});

describe("upstream's Prometheus names (OCA/queue#976) beside ours", () => {
  it('queue_job_channel_* with channel, root and leaf labels, and queue_job_jobs_to_do', async () => {
    await createJobs(fixture.db.pool, 2, { channel: 'root.a' });
    await createJob(fixture.db.pool, { channel: 'root.a', state: 'failed' });
    await createJob(fixture.db.pool, { channel: 'root.a.b', state: 'started' });
    await createJob(fixture.db.pool, { channel: 'root', state: 'wait_dependencies' });
    await createJob(fixture.db.pool, { channel: 'root', state: 'done' });
    const report = await collectStatus(
      testConfig({ databaseUrl: fixture.db.url, channels: 'root:4,a:2,a.b:1' }),
      silentLogger,
    );
    const text = renderPrometheus(report);
    const lines = text.split('\n');
    const has = (line: string) => expect(lines).toContain(line);
    has('# HELP queue_job_channel_capacity Channel Capacity');
    has('# TYPE queue_job_channel_capacity gauge');
    has('queue_job_channel_capacity{target="default",channel="root",root="true",leaf="false"} 4');
    has('queue_job_channel_capacity{target="default",channel="root.a",root="false",leaf="false"} 2');
    has('queue_job_channel_capacity{target="default",channel="root.a.b",root="false",leaf="true"} 1');
    has('queue_job_channel_pending{target="default",channel="root.a",root="false",leaf="false"} 2');
    has('queue_job_channel_failed{target="default",channel="root.a",root="false",leaf="false"} 1');
    // running is hierarchical, as upstream's (a job runs in its channel and every ancestor)
    has('queue_job_channel_running{target="default",channel="root",root="true",leaf="false"} 1');
    has('queue_job_channel_running{target="default",channel="root.a.b",root="false",leaf="true"} 1');
    has('queue_job_channel_waiting_dependencies{target="default",channel="root",root="true",leaf="false"} 1');
    // not done: 2 pending + 1 failed + 1 started + 1 waiting
    has('queue_job_jobs_to_do{target="default"} 5');
    // ours are still there
    has('queue_job_capacity{target="default",channel="root"} 4');
  });
});

describe('a 500 is not always "the job failed" (a multi-database Odoo that does not select db=)', () => {
  it('ODOO_DB wrong: the guarded revert moves the row, one error names ODOO_DB, the target is not served', async () => {
    const uuids = await createJobs(fixture.db.pool, 4);
    const takenBefore = fixture.odoo.counts().taken;
    const captured = captureLog('debug');
    const config = testConfig({
      databaseUrl: fixture.db.url,
      channels: 'root:4',
      env: { ODOO_DB: 'not_this_one' },
    });
    const summary = await tick(config, captured.log);
    const target = summary.targets[0]!;
    expect(summary.ok).toBe(false);
    expect(summary.failing).toEqual(['default']);
    expect(target.outcomes.not_selected).toBeGreaterThanOrEqual(1);
    expect(target.outcomes.failed).toBe(0);
    expect(target.dispatched).toBe(0);
    expect(target.reverted).toBe(4);
    expect(target.errors).toHaveLength(1);
    expect(target.errors[0]).toMatch(/did not select database 'not_this_one'.*ODOO_DB/);
    expect(captured.entries().filter((e) => e.severity === 'ERROR')).toHaveLength(1);
    expect(Object.values(await jobStates(fixture.db.pool, uuids))).toEqual(Array(4).fill('pending'));
    // every request the stand-in got was refused before taking a job
    expect(fixture.odoo.counts().taken).toBe(takenBefore);
  });

  it('a job that really raises is still a failure: the revert changes nothing, the target is served', async () => {
    const uuids = await createJobs(fixture.db.pool, 3);
    fixture.odoo.configure({ outcome: () => 'failed' });
    const summary = await tick(testConfig({ databaseUrl: fixture.db.url, channels: 'root:4' }), silentLogger);
    expect(summary.ok).toBe(true);
    expect(summary.targets[0]).toMatchObject({ reverted: 0, dispatched: 3 });
    expect(summary.targets[0]!.outcomes).toMatchObject({ failed: 3, not_selected: 0 });
    expect(Object.values(await jobStates(fixture.db.pool, uuids))).toEqual(Array(3).fill('failed'));
  });

  it("QUEUE_JOB_TARGETS: the error names the target's db setting", async () => {
    await createJobs(fixture.db.pool, 1);
    const config = testConfig({
      databaseUrl: fixture.db.url,
      env: {
        DATABASE_URL: '',
        QUEUE_JOB_TARGETS: JSON.stringify([{ name: 'prod', databaseUrl: fixture.db.url, db: 'nope' }]),
      },
    });
    const summary = await tick(config, silentLogger);
    expect(summary.targets[0]!.errors.join(' ')).toContain('QUEUE_JOB_TARGETS[prod].db');
    expect(await stateCounts(fixture.db.pool)).toEqual({ pending: 1 });
  });
});

describe('19.0 routes /queue_job/runjob by X-Odoo-Database (OCA/queue#924)', () => {
  it('a multi-database 19.0 Odoo runs the jobs of the database the runner names in the header', async () => {
    const other = await createDatabase(inject('adminDatabaseUrl'));
    const odoo19 = await startOdoo({
      databases: { [other.name]: other.url, [fixture.db.name]: fixture.db.url },
      series: '19.0',
    });
    try {
      const uuids = await createJobs(fixture.db.pool, 3);
      const summary = await tick(
        testConfig({ databaseUrl: fixture.db.url, odooUrl: odoo19.url, channels: 'root:4' }),
        silentLogger,
      );
      expect(summary.ok).toBe(true);
      await odoo19.waitFor(() => uuids.every((uuid) => odoo19.takenCount(uuid) === 1));
      const runjobs = odoo19.requests.filter((r) => r.path === '/queue_job/runjob');
      expect(runjobs.map((r) => r.databaseHeader)).toEqual(Array(3).fill(fixture.db.name));
      expect(Object.values(await jobStates(fixture.db.pool, uuids))).toEqual(Array(3).fill('done'));
    } finally {
      await odoo19.close();
      await other.close();
    }
  });
});

describe('a cloned database shares uuids: everything is keyed by (target, uuid)', () => {
  it('two targets holding the same uuids: each runs its own job once, reports and logs name the target', async () => {
    const clone = await createDatabase(inject('adminDatabaseUrl'));
    const odoo = await startOdoo({
      databases: { [fixture.db.name]: fixture.db.url, [clone.name]: clone.url },
    });
    try {
      const uuids = await createJobs(fixture.db.pool, 3);
      // the staging clone: the same rows, the same uuids
      for (const uuid of uuids) await createJob(clone.pool, { uuid });
      const captured = captureLog('debug');
      const targets = [
        { name: 'prod', databaseUrl: fixture.db.url, odooUrl: odoo.url },
        { name: 'staging', databaseUrl: clone.url, odooUrl: odoo.url },
      ];
      const config = testConfig({
        databaseUrl: fixture.db.url,
        env: { DATABASE_URL: '', QUEUE_JOB_TARGETS: JSON.stringify(targets) },
      });
      const summary = await tick(config, captured.log);
      expect(summary.ok).toBe(true);
      expect(summary.targets.map((t) => [t.target, t.claimed])).toEqual([
        ['prod', 3],
        ['staging', 3],
      ]);
      await odoo.waitFor(() =>
        uuids.every(
          (uuid) => odoo.takenCount(uuid, fixture.db.name) === 1 && odoo.takenCount(uuid, clone.name) === 1,
        ),
      );
      expect(Object.values(await jobStates(fixture.db.pool, uuids))).toEqual(Array(3).fill('done'));
      expect(Object.values(await jobStates(clone.pool, uuids))).toEqual(Array(3).fill('done'));
      // each job line carries its target, so the same uuid in two databases is two jobs in the logs
      const lines = captured.entries().filter((e) => e.uuid === uuids[0] && e.message === 'job dispatched');
      expect(lines.map((e) => e.target).sort()).toEqual(['prod', 'staging']);
    } finally {
      await odoo.close();
      await clone.close();
    }
  });
});

/** Runs `change` on the fixture database for one test, and `undo` whatever happens. */
async function withChange(change: string, undo: string, body: () => Promise<void>): Promise<void> {
  await fixture.db.pool.query(change);
  try {
    await body();
  } finally {
    await fixture.db.pool.query(undo);
  }
}

const statusOf = async (channels = 'root:4') =>
  (await collectStatus(testConfig({ databaseUrl: fixture.db.url, channels }), silentLogger)).targets[0]!;

describe('capability probe per target (series, queue_job version, lock table, advisory lock, columns)', () => {
  it('status shows what the probe read; the tick summary carries the series', async () => {
    const status = await statusOf();
    expect(status.capabilities).toMatchObject({
      series: '17.0',
      queueJobVersion: '17.0.1.0.5',
      queueJobState: 'installed',
      lockTable: null,
      advisoryLock: false,
      builtinRunnerSessions: [],
      missingColumns: [],
      modulesChanging: [],
      refused: null,
      skipped: null,
    });
    const target = await tickOnce('root:4');
    expect(target).toMatchObject({ series: '17.0', queueJobVersion: '17.0.1.0.5', refused: null });
    await fixture.odoo.setSeries('18.0');
    try {
      expect((await statusOf()).capabilities).toMatchObject({
        series: '18.0',
        queueJobVersion: '18.0.2.2.0',
        lockTable: 'queue_job_lock',
      });
      // behaviour follows the probe: the lock table is the liveness signal
      expect((await tickOnce('root:4')).liveness).toBe('lock_table');
    } finally {
      await fixture.odoo.setSeries('17.0');
    }
  });

  it.each([
    ['15.0.1.0.0', /queue_job 15\.0\.1\.0\.0 is too old: it serves queue_job 16\.0 to 19\.0/],
    ['20.0.1.0.0', /queue_job 20\.0\.1\.0\.0 is not a version this runner knows/],
    ['garbage', /queue_job garbage is not a version this runner knows/],
  ])('refuses queue_job %s, naming it, and touches nothing', async (version, message) => {
    const uuids = await createJobs(fixture.db.pool, 2);
    await withChange(
      `UPDATE ir_module_module SET latest_version = '${version}' WHERE name = 'queue_job'`,
      `UPDATE ir_module_module SET latest_version = '17.0.1.0.5' WHERE name = 'queue_job'`,
      async () => {
        const summary = await tick(testConfig({ databaseUrl: fixture.db.url }), silentLogger);
        expect(summary.ok).toBe(false);
        expect(summary.targets[0]!.claimed).toBe(0);
        expect(summary.targets[0]!.refused).toMatch(message);
        expect(summary.targets[0]!.errors).toEqual([summary.targets[0]!.refused]);
        expect(Object.values(await jobStates(fixture.db.pool, uuids))).toEqual(['pending', 'pending']);
        expect((await statusOf()).capabilities?.refused).toMatch(message);
      },
    );
  });

  it('refuses a database where queue_job is not installed', async () => {
    await withChange(
      `UPDATE ir_module_module SET state = 'uninstalled' WHERE name = 'queue_job'`,
      `UPDATE ir_module_module SET state = 'installed' WHERE name = 'queue_job'`,
      async () => {
        const target = await tick(testConfig({ databaseUrl: fixture.db.url }), silentLogger);
        expect(target.targets[0]!.refused).toMatch(
          /queue_job is not installed in this database \(module state 'uninstalled'\)/,
        );
      },
    );
  });

  it('refuses a queue_job table without a column the runner relies on, naming it', async () => {
    await withChange(
      'ALTER TABLE queue_job RENAME COLUMN worker_pid TO worker_pid_gone',
      'ALTER TABLE queue_job RENAME COLUMN worker_pid_gone TO worker_pid',
      async () => {
        const target = await tick(testConfig({ databaseUrl: fixture.db.url }), silentLogger);
        expect(target.targets[0]!.refused).toMatch(/lacks column\(s\) the runner relies on: worker_pid/);
      },
    );
  });
});

describe("queue_job's built-in runner is seen on every version, by its session", () => {
  /** A session that behaves like upstream's runner: an Odoo connection, idle after `statement`. */
  async function runnerLike(statement: string, applicationName = 'odoo-4242') {
    const client = new pg.Client({ connectionString: fixture.db.url, application_name: applicationName });
    await client.connect();
    await client.query(statement);
    return client;
  }

  it.each([
    ['LISTEN queue_job'],
    ['SELECT 1'],
    [
      "UPDATE queue_job SET state='enqueued', date_enqueued=date_trunc('seconds',                          now() at time zone 'utc') WHERE uuid='00000000-0000-0000-0000-000000000000'",
    ],
  ])(
    'idle after %s: refused, saying how to switch it off; nothing dispatched, manual runs too',
    async (statement) => {
      const uuids = await createJobs(fixture.db.pool, 2);
      const runner = await runnerLike(statement);
      try {
        const summary = await tick(testConfig({ databaseUrl: fixture.db.url }), silentLogger);
        const target = summary.targets[0]!;
        expect(summary.ok).toBe(false);
        expect(target.upstreamRunner).toBe(true);
        expect(target.claimed).toBe(0);
        expect(target.errors).toHaveLength(1);
        expect(target.errors[0]).toContain('odoo-4242');
        expect(target.errors[0]).toContain('ODOO_QUEUE_JOB_CHANNELS=root:0');
        expect(Object.values(await jobStates(fixture.db.pool, uuids))).toEqual(['pending', 'pending']);
        const status = await statusOf();
        expect(status.upstreamRunner).toBe(true);
        expect(status.capabilities?.builtinRunnerSessions.map((s) => s.applicationName)).toEqual([
          'odoo-4242',
        ]);
        const manual = await manualDispatch(testConfig({ databaseUrl: fixture.db.url }), silentLogger, {
          uuids: [uuids[0]!],
        });
        expect(manual).toMatchObject({ ok: false, refused: 'upstream_runner' });
      } finally {
        await runner.end();
      }
    },
  );

  it('an ordinary Odoo worker connection (idle after COMMIT) or another program listening is not the runner', async () => {
    const worker = await runnerLike('BEGIN; SELECT 1; COMMIT');
    const other = await runnerLike('LISTEN queue_job', 'psql');
    try {
      await createJobs(fixture.db.pool, 1);
      const target = await tickOnce('root:4');
      expect(target).toMatchObject({ upstreamRunner: false, claimed: 1, refused: null });
    } finally {
      await worker.end();
      await other.end();
    }
  });
});

describe('modules being installed or upgraded: the database is skipped, with a bound', () => {
  it('skips the database while a module is to upgrade, says so in the summary and status; runs after', async () => {
    const uuids = await createJobs(fixture.db.pool, 2);
    await withChange(
      `UPDATE ir_module_module SET state = 'to upgrade' WHERE name = 'queue_job'`,
      `UPDATE ir_module_module SET state = 'installed' WHERE name = 'queue_job'`,
      async () => {
        await fixture.db.pool.query(
          `INSERT INTO ir_module_module (name, state) VALUES ('sale', 'to install')`,
        );
        const summary = await tick(testConfig({ databaseUrl: fixture.db.url }), silentLogger);
        const target = summary.targets[0]!;
        expect(summary.ok).toBe(true);
        expect(target.claimed).toBe(0);
        expect(target.skipped).toMatch(
          /being installed or upgraded: queue_job \(to upgrade\), sale \(to install\)/,
        );
        expect(Object.values(await jobStates(fixture.db.pool, uuids))).toEqual(['pending', 'pending']);
        expect((await statusOf()).capabilities?.skipped).toMatch(/queue_job \(to upgrade\)/);
      },
    );
    await fixture.db.pool.query(`DELETE FROM ir_module_module WHERE name = 'sale'`);
    expect((await tickOnce('root:4')).claimed).toBe(2);
  });

  it('an upgrade pending for over an hour is an error: the tick is not ok', async () => {
    await createJobs(fixture.db.pool, 1);
    await withChange(
      `ALTER TABLE ir_module_module ADD COLUMN write_date timestamp;
       UPDATE ir_module_module SET state = 'to upgrade', write_date = (now() AT TIME ZONE 'utc') - interval '2 hours'
       WHERE name = 'queue_job'`,
      `UPDATE ir_module_module SET state = 'installed' WHERE name = 'queue_job';
       ALTER TABLE ir_module_module DROP COLUMN write_date`,
      async () => {
        const summary = await tick(testConfig({ databaseUrl: fixture.db.url }), silentLogger);
        expect(summary.ok).toBe(false);
        expect(summary.targets[0]!.claimed).toBe(0);
        expect(summary.targets[0]!.errors.join(' ')).toMatch(
          /for over an hour: queue_job \(to upgrade\).*Cancel Install\/Upgrade/,
        );
      },
    );
  });
});
