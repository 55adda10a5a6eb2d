// The end-to-end suite against an Odoo: it logs in, creates jobs through queue_job's own
// /queue_job/create_test_job (plain, failing, several channels, a graph), runs ticks until they end, and
// checks the states Odoo wrote. test/e2e-odoo.test.ts points it at a real Odoo (ODOO_E2E_*);
// test/e2e-standin.test.ts at the stand-in, which keeps the suite itself honest where no Odoo runs.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.ts';
import { silentLogger } from '../../shared/log.ts';
import { tick } from '../../shared/tick.ts';

export interface OdooUnderTest {
  odooUrl: string;
  databaseUrl: string;
  db: string;
  login: string;
  password: string;
  /**
   * Run the runner through the companion addon (`queue_job_runner_bridge` installed, its token's hash
   * in `queue_job_runner_bridge.token_sha256`) instead of the database URL; the suite still reads the
   * rows with `databaseUrl` to check what Odoo wrote.
   */
  bridgeToken?: string;
}

/** How the runner reaches the database: the bridge when a token is given, else the database URL. */
function reachOf(odoo: OdooUnderTest): Record<string, string> {
  return odoo.bridgeToken
    ? { ODOO_BRIDGE_TOKEN: odoo.bridgeToken, BRIDGE_POLL_MS: '200' }
    : { DATABASE_URL: odoo.databaseUrl };
}

const channels = 'root:4,root.e2e_a:1,root.e2e_b:2';

/** Registers the suite in the current describe block; `target` is read once the suite starts. */
export function odooEndToEnd(target: () => OdooUnderTest): void {
  let odoo: OdooUnderTest;
  let cookie = '';
  let pool: pg.Pool;

  beforeAll(async () => {
    odoo = { ...target(), odooUrl: target().odooUrl.replace(/\/+$/, '') };
    pool = new pg.Pool({ connectionString: odoo.databaseUrl, max: 2 });
    const response = await fetch(`${odoo.odooUrl}/web/session/authenticate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        method: 'call',
        params: { db: odoo.db, login: odoo.login, password: odoo.password },
      }),
    });
    const body = (await response.json()) as { error?: unknown };
    if (body.error) throw new Error('Odoo login failed: check the login and password');
    cookie = (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  });

  afterAll(async () => {
    await pool?.end();
  });

  async function createTestJob(params: Record<string, string | number>): Promise<string> {
    const query = new URLSearchParams(Object.entries(params).map(([key, value]) => [key, String(value)]));
    const response = await fetch(`${odoo.odooUrl}/queue_job/create_test_job?${query}`, {
      headers: { cookie },
      redirect: 'manual',
    });
    const text = await response.text();
    expect(response.status, text.slice(0, 200)).toBe(200);
    const match = /(job|graph) uuid: (\S+)/.exec(text);
    if (!match) throw new Error(`unexpected answer from create_test_job: ${text.slice(0, 200)}`);
    return match[2]!;
  }

  async function states(where: 'uuid' | 'graph_uuid', value: string) {
    const { rows } = await pool.query<{ state: string; exc_name: string | null; channel: string }>(
      `SELECT state, exc_name, channel FROM queue_job WHERE ${where} = $1 ORDER BY id`,
      [value],
    );
    return rows;
  }

  async function runUntil(done: () => Promise<boolean>) {
    const config = {
      ...loadConfig({
        ...reachOf(odoo),
        ODOO_URL: odoo.odooUrl,
        ODOO_DB: odoo.db,
        ODOO_QUEUE_JOB_CHANNELS: channels,
      }),
      windowSeconds: 3,
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
    expect((await states('uuid', failing))[0]?.state).toBe('failed');
    expect((await states('uuid', failing))[0]?.exc_name).toBeTruthy();
    for (const uuid of [...inA, ...inB]) {
      const [job] = await states('uuid', uuid);
      expect(job?.state).toBe('done');
      expect(job?.channel).toMatch(/^root\.e2e_[ab]$/);
    }
    const graphJobs = await states('graph_uuid', graph);
    expect(graphJobs.length).toBeGreaterThanOrEqual(2);
    expect(graphJobs.every((job) => job.state === 'done')).toBe(true);
  }, 180_000);

  it('a database Odoo does not serve (wrong ODOO_DB): Odoo answers 500, the job goes back to pending, one error names ODOO_DB', async () => {
    const uuid = await createTestJob({ description: 'e2e wrong db' });
    const wrong = {
      ...loadConfig({
        ...reachOf(odoo),
        ODOO_URL: odoo.odooUrl,
        ODOO_DB: 'qjr_no_such_database',
        ODOO_QUEUE_JOB_CHANNELS: channels,
      }),
      windowSeconds: 0,
    };
    const summary = await tick(wrong, silentLogger);
    expect(summary.ok).toBe(false);
    // Direct: claimed, sent, Odoo answers 500 without taking it, reverted. Through a real Odoo's bridge
    // the addon's own request already goes to the database Odoo will not select (404): nothing is
    // claimed. Either way one error names ODOO_DB and the job stays pending.
    if (!odoo.bridgeToken) expect(summary.targets[0]?.outcomes.not_selected).toBe(1);
    expect(summary.targets[0]?.errors).toHaveLength(1);
    expect(summary.targets[0]?.errors[0]).toContain('ODOO_DB');
    expect((await states('uuid', uuid))[0]?.state).toBe('pending');
    // with the right database it runs
    await runUntil(async () => (await states('uuid', uuid))[0]?.state === 'done');
  }, 60_000);
}
