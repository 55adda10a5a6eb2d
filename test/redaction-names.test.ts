// A short database password must not mangle output (issue 11 item 7): with password `root` or `odoo`,
// the channel `root`, the channel `root.odoo` and the database `odoo` keep their names in status (JSON
// and Prometheus, function and command), while the password itself stays out of every answer.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cli, ensureBuilt } from './support/cli.ts';
import { createDatabase, databaseUrl, type TestDatabase } from './support/db.ts';
import { call, type Functions, startFunctions, useEnv } from './support/functions.ts';
import { createJobs } from './support/jobs.ts';

let db: TestDatabase;
let fns: Functions;
const ROLES = { qjr_short_root: 'root', qjr_short_odoo: 'odoo' };

beforeAll(async () => {
  await ensureBuilt();
  const admin = inject('adminDatabaseUrl');
  // The database is called `odoo`, as a first install names it; this file owns that name in the test server.
  db = await createDatabase(admin, 'odoo', { replace: true });
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    for (const [role, password] of Object.entries(ROLES)) {
      await client.query(`DROP ROLE IF EXISTS ${role}`);
      // DDL takes no parameters; role names and passwords are constants of this file.
      await client.query(`CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD '${password}'`);
    }
  } finally {
    await client.end();
  }
  await createJobs(db.pool, 3, { channel: 'root' });
  await createJobs(db.pool, 2, { channel: 'root.odoo' });
  fns = await startFunctions();
});

afterAll(async () => {
  await fns?.close();
  await db?.close();
  useEnv({});
});

function urlWith(role: string, password: string): string {
  const url = new URL(databaseUrl(inject('adminDatabaseUrl'), 'odoo'));
  url.username = role;
  url.password = password;
  return url.toString();
}

describe.each(Object.entries(ROLES))('database password %s', (role, password) => {
  const env = () => ({
    DATABASE_URL: urlWith(role, password),
    ODOO_URL: 'http://127.0.0.1:1',
    ODOO_QUEUE_JOB_CHANNELS: 'root:4,root.odoo:1',
    RUNNER_ALLOW_UNAUTHENTICATED: 'true',
  });

  it('status keeps the channel and database names (JSON and Prometheus)', async () => {
    useEnv(env());
    const json = await call(fns.url('status'));
    expect(json.status).toBe(200);
    expect(json.text).not.toContain('[redacted]');
    const target = json.json.targets[0];
    expect(target.channels.map((channel: { channel: string }) => channel.channel)).toEqual([
      'root',
      'root.odoo',
    ]);
    const prometheus = await call(fns.url('status', 'format=prometheus'));
    expect(prometheus.text).not.toContain('[redacted]');
    expect(prometheus.text).toMatch(/channel="root"/);
    expect(prometheus.text).toMatch(/channel="root\.odoo"/);
  });

  it('the command too; and the password in a URL is still redacted', async () => {
    const run = await cli(['status', '--prometheus'], env());
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/channel="root"/);
    expect(run.stdout).not.toContain('[redacted]');
    const broken = await cli(['status', '--json'], { ...env(), DATABASE_URL: `${urlWith(role, password)}x` });
    expect(`${broken.stdout}${broken.stderr}`).not.toContain(`${role}:${password}@`);
  });
});
