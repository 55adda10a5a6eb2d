// The tick end to end against real PostgreSQL and the Odoo stand-in: one pass, summaries, outcomes.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../shared/log.ts';
import { tick } from '../shared/tick.ts';
import { useStandin } from './support/fixture.ts';
import { createJob, createJobs, getJob, stateCounts } from './support/jobs.ts';
import { testConfig } from './support/runner.ts';

const fixture = useStandin();

describe('one pass (window 0)', () => {
  it('claims up to capacity, dispatches, and reports per target', async () => {
    fixture.odoo.configure({ durationMs: 300 });
    await createJobs(fixture.db.pool, 10, { channel: 'root' });
    const summary = await tick(testConfig({ databaseUrl: fixture.db.url, channels: 'root:4' }), silentLogger);
    expect(summary.ok).toBe(true);
    expect(summary.targets).toHaveLength(1);
    const [target] = summary.targets;
    expect(target).toMatchObject({ target: 'default', ok: true, passes: 1, claimed: 4, dispatched: 4 });
    // 300 ms jobs answer after the default 1 s dispatch timeout? No: they finish first, so 200.
    expect(target?.outcomes.accepted).toBe(4);
    expect(await stateCounts(fixture.db.pool)).toEqual({ done: 4, pending: 6 });
  });

  it('uses web.base.url when ODOO_URL is not set, and ODOO_URL when it is', async () => {
    await createJobs(fixture.db.pool, 1);
    const viaBaseUrl = await tick(testConfig({ databaseUrl: fixture.db.url }), silentLogger);
    expect(viaBaseUrl.targets[0]?.dispatched).toBe(1);
    await createJobs(fixture.db.pool, 1);
    const viaSetting = await tick(
      testConfig({ databaseUrl: fixture.db.url, odooUrl: fixture.odoo.url }),
      silentLogger,
    );
    expect(viaSetting.targets[0]?.dispatched).toBe(1);
    expect(await stateCounts(fixture.db.pool)).toEqual({ done: 2 });
  });

  it('counts a job that raised as failed (500) and a long job as running', async () => {
    fixture.odoo.configure({
      outcome: (job) => (job.name?.includes('boom') ? 'failed' : 'done'),
      // The slow job outlasts the dispatch timeout by construction; the failing one answers at once
      // and has the whole timeout to do it, however loaded the machine.
      durationMs: (job) => (job.name?.includes('slow') ? 3000 : 0),
    });
    const boom = await createJob(fixture.db.pool, { name: 'boom' });
    const slow = await createJob(fixture.db.pool, { name: 'slow' });
    const summary = await tick(
      testConfig({ databaseUrl: fixture.db.url, channels: 'root:4', dispatchTimeoutMs: 1500 }),
      silentLogger,
    );
    expect(summary.targets[0]?.outcomes).toMatchObject({ failed: 1, running: 1 });
    expect(summary.ok).toBe(true);
    expect((await getJob(fixture.db.pool, boom.uuid))?.state).toBe('failed');
    expect((await getJob(fixture.db.pool, slow.uuid))?.state).toBe('started');
    await fixture.odoo.waitFor(() => fixture.odoo.counts().inFlight === 0, 5000);
    expect((await getJob(fixture.db.pool, slow.uuid))?.state).toBe('done');
  });

  it('serves several targets in parallel and isolates a broken one', async () => {
    await createJobs(fixture.db.pool, 2);
    const env = {
      QUEUE_JOB_TARGETS: JSON.stringify([
        { name: 'good', databaseUrl: fixture.db.url, odooUrl: fixture.odoo.url, channels: 'root:2' },
        {
          name: 'broken',
          databaseUrl: 'postgres://nobody:secret-pw@127.0.0.1:1/none',
          odooUrl: fixture.odoo.url,
        },
      ]),
    };
    const summary = await tick(testConfig({ databaseUrl: fixture.db.url, env }), silentLogger);
    expect(summary.ok).toBe(false);
    expect(summary.failing).toEqual(['broken']);
    const good = summary.targets.find((t) => t.target === 'good');
    expect(good).toMatchObject({ ok: true, claimed: 2, dispatched: 2 });
    const broken = summary.targets.find((t) => t.target === 'broken');
    expect(broken?.errors.join(' ')).toMatch(/ECONNREFUSED|connect/);
    expect(JSON.stringify(summary)).not.toContain('secret-pw');
  });
});
