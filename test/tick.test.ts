// The tick end to end against real PostgreSQL and the Odoo stand-in: one pass, summaries, outcomes.
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { silentLogger } from '../shared/log.ts';
import { tick } from '../shared/tick.ts';
import { createDatabase, setWebBaseUrl, type TestDatabase } from './support/db.ts';
import { createJob, createJobs, getJob, stateCounts } from './support/jobs.ts';
import { type OdooStandin, startOdoo } from './support/odoo.ts';
import { testConfig } from './support/runner.ts';

let db: TestDatabase;
let odoo: OdooStandin;

beforeAll(async () => {
  db = await createDatabase(inject('adminDatabaseUrl'));
  odoo = await startOdoo({ databases: { [db.name]: db.url } });
  await setWebBaseUrl(db.pool, odoo.url);
});

afterAll(async () => {
  await odoo?.close();
  await db?.close();
});

beforeEach(async () => {
  await db.pool.query('DELETE FROM queue_job');
  odoo.configure({ durationMs: 0, failureRate: 0, retryableRate: 0, outcome: undefined, auth: undefined });
});

describe('one pass (window 0)', () => {
  it('claims up to capacity, dispatches, and reports per target', async () => {
    odoo.configure({ durationMs: 300 });
    await createJobs(db.pool, 10, { channel: 'root' });
    const summary = await tick(testConfig({ databaseUrl: db.url, channels: 'root:4' }), silentLogger);
    expect(summary.ok).toBe(true);
    expect(summary.targets).toHaveLength(1);
    const [target] = summary.targets;
    expect(target).toMatchObject({ target: 'default', ok: true, passes: 1, claimed: 4, dispatched: 4 });
    // 300 ms jobs answer after the default 1 s dispatch timeout? No: they finish first, so 200.
    expect(target?.outcomes.accepted).toBe(4);
    expect(await stateCounts(db.pool)).toEqual({ done: 4, pending: 6 });
  });

  it('uses web.base.url when ODOO_URL is not set, and ODOO_URL when it is', async () => {
    await createJobs(db.pool, 1);
    const viaBaseUrl = await tick(testConfig({ databaseUrl: db.url }), silentLogger);
    expect(viaBaseUrl.targets[0]?.dispatched).toBe(1);
    await createJobs(db.pool, 1);
    const viaSetting = await tick(testConfig({ databaseUrl: db.url, odooUrl: odoo.url }), silentLogger);
    expect(viaSetting.targets[0]?.dispatched).toBe(1);
    expect(await stateCounts(db.pool)).toEqual({ done: 2 });
  });

  it('counts a job that raised as failed (500) and a long job as running', async () => {
    odoo.configure({
      outcome: (job) => (job.name?.includes('boom') ? 'failed' : 'done'),
      durationMs: (job) => (job.name?.includes('slow') ? 1500 : 0),
    });
    const boom = await createJob(db.pool, { name: 'boom' });
    const slow = await createJob(db.pool, { name: 'slow' });
    const summary = await tick(
      testConfig({ databaseUrl: db.url, channels: 'root:4', dispatchTimeoutMs: 300 }),
      silentLogger,
    );
    expect(summary.targets[0]?.outcomes).toMatchObject({ failed: 1, running: 1 });
    expect(summary.ok).toBe(true);
    expect((await getJob(db.pool, boom.uuid))?.state).toBe('failed');
    expect((await getJob(db.pool, slow.uuid))?.state).toBe('started');
    await odoo.waitFor(() => odoo.counts().inFlight === 0, 5000);
    expect((await getJob(db.pool, slow.uuid))?.state).toBe('done');
  });

  it('serves several targets in parallel and isolates a broken one', async () => {
    await createJobs(db.pool, 2);
    const env = {
      QUEUE_JOB_TARGETS: JSON.stringify([
        { name: 'good', databaseUrl: db.url, odooUrl: odoo.url, channels: 'root:2' },
        { name: 'broken', databaseUrl: 'postgres://nobody:secret-pw@127.0.0.1:1/none', odooUrl: odoo.url },
      ]),
    };
    const summary = await tick(testConfig({ databaseUrl: db.url, env }), silentLogger);
    expect(summary.ok).toBe(false);
    expect(summary.failing).toEqual(['broken']);
    const good = summary.targets.find((t) => t.target === 'good');
    expect(good).toMatchObject({ ok: true, claimed: 2, dispatched: 2 });
    const broken = summary.targets.find((t) => t.target === 'broken');
    expect(broken?.errors.join(' ')).toMatch(/ECONNREFUSED|connect/);
    expect(JSON.stringify(summary)).not.toContain('secret-pw');
  });
});
