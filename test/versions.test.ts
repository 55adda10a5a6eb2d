// What upstream added or does differently across queue_job 16.0-19.0, against a real PostgreSQL and
// the Odoo stand-in: 18.0's channel options (paused, capacity_default, sequential_default) and the
// candidate read for channels whose short spelling is another channel.
import { describe, expect, inject, it } from 'vitest';
import { silentLogger } from '../shared/log.ts';
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
