// End to end against a REAL Odoo with queue_job installed (see README, "Testing against a real Odoo").
// Skipped, saying why, unless ODOO_E2E_URL, ODOO_E2E_DATABASE_URL, ODOO_E2E_LOGIN and ODOO_E2E_PASSWORD
// are set. Jobs are created through Odoo's own /queue_job/create_test_job; the assertions read the
// states Odoo wrote.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseName, loadConfig } from '../shared/config.ts';
import { silentLogger } from '../shared/log.ts';
import { tick } from '../shared/tick.ts';

const required = ['ODOO_E2E_URL', 'ODOO_E2E_DATABASE_URL', 'ODOO_E2E_LOGIN', 'ODOO_E2E_PASSWORD'] as const;
const missing = required.filter((name) => !process.env[name]);
const reason = `needs a real Odoo: set ${missing.join(', ')} (see README, "Testing against a real Odoo")`;
if (missing.length > 0) console.log(`[e2e-odoo] skipped: ${reason}`);

const channels = 'root:4,root.e2e_a:1,root.e2e_b:2';

describe.skipIf(missing.length > 0)(
  `real Odoo end to end${missing.length > 0 ? ` (skipped: ${reason})` : ''}`,
  () => {
    const odooUrl = (process.env.ODOO_E2E_URL ?? '').replace(/\/+$/, '');
    const databaseUrl = process.env.ODOO_E2E_DATABASE_URL ?? '';
    const db = process.env.ODOO_E2E_DB ?? (databaseUrl ? databaseName(databaseUrl) : '');
    let cookie = '';
    let pool: pg.Pool;

    beforeAll(async () => {
      pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
      const response = await fetch(`${odooUrl}/web/session/authenticate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          jsonrpc: '2.0',
          method: 'call',
          params: { db, login: process.env.ODOO_E2E_LOGIN, password: process.env.ODOO_E2E_PASSWORD },
        }),
      });
      const body = (await response.json()) as { error?: unknown };
      if (body.error) throw new Error('Odoo login failed: check ODOO_E2E_LOGIN and ODOO_E2E_PASSWORD');
      cookie = (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    });

    afterAll(async () => {
      await pool?.end();
    });

    async function createTestJob(params: Record<string, string | number>): Promise<string> {
      const query = new URLSearchParams(Object.entries(params).map(([key, value]) => [key, String(value)]));
      const response = await fetch(`${odooUrl}/queue_job/create_test_job?${query}`, { headers: { cookie } });
      const text = await response.text();
      expect(response.status, text.slice(0, 200)).toBe(200);
      const match = /(job|graph) uuid: (\S+)/.exec(text);
      if (!match) throw new Error(`unexpected answer from create_test_job: ${text.slice(0, 200)}`);
      return match[2]!;
    }

    async function states(where: string, value: string) {
      const { rows } = await pool.query<{ state: string; exc_name: string | null; channel: string }>(
        `SELECT state, exc_name, channel FROM queue_job WHERE ${where} = $1 ORDER BY id`,
        [value],
      );
      return rows;
    }

    async function runUntil(done: () => Promise<boolean>) {
      const config = {
        ...loadConfig({
          DATABASE_URL: databaseUrl,
          ODOO_URL: odooUrl,
          ODOO_DB: db,
          ODOO_QUEUE_JOB_CHANNELS: channels,
        }),
        windowSeconds: 5,
      };
      const started = Date.now();
      while (!(await done())) {
        if (Date.now() - started > 120_000) throw new Error('jobs did not finish within 120 s');
        const summary = await tick(config, silentLogger);
        expect(
          summary.targets[0]?.upstreamRunner,
          'disable the built-in runner: ODOO_QUEUE_JOB_CHANNELS=root:0',
        ).toBe(false);
        expect(summary.targets[0]?.errors).toEqual([]);
      }
    }

    it('runs plain, failing, multi-channel and graph jobs, and Odoo records each end state', async () => {
      const plain = await createTestJob({ description: 'e2e plain' });
      const failing = await createTestJob({ description: 'e2e failing', failure_rate: 1, max_retries: 1 });
      const inA = await Promise.all(
        [1, 2, 3].map(() => createTestJob({ channel: 'root.e2e_a', description: 'e2e a' })),
      );
      const inB = await Promise.all(
        [1, 2, 3].map(() => createTestJob({ channel: 'root.e2e_b', description: 'e2e b' })),
      );
      const graph = await createTestJob({ size: 5, description: 'e2e graph' });
      const terminal = (rows: { state: string }[]) =>
        rows.length > 0 && rows.every((r) => ['done', 'failed'].includes(r.state));
      await runUntil(async () => {
        const all = [
          ...(await states('uuid', plain)),
          ...(await states('uuid', failing)),
          ...(await Promise.all([...inA, ...inB].map((uuid) => states('uuid', uuid)))).flat(),
          ...(await states('graph_uuid', graph)),
        ];
        return terminal(all);
      });
      expect((await states('uuid', plain))[0]?.state).toBe('done');
      expect((await states('uuid', failing))[0]).toMatchObject({ state: 'failed' });
      expect((await states('uuid', failing))[0]?.exc_name).toBeTruthy();
      for (const uuid of [...inA, ...inB]) expect((await states('uuid', uuid))[0]?.state).toBe('done');
      const graphJobs = await states('graph_uuid', graph);
      expect(graphJobs.length).toBeGreaterThanOrEqual(2);
      expect(graphJobs.every((job) => job.state === 'done')).toBe(true);
    }, 180_000);
  },
);
