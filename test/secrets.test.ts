// Invariant 9 end to end: every log line, response and output of every function and command, error
// paths included (bad database password, wrong Odoo auth, unreachable database, bad configuration),
// is captured and searched for passwords, tokens and connection strings. None may appear.
import { format } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { cli, ensureBuilt } from './support/cli.ts';
import { createDatabase, setWebBaseUrl, type TestDatabase } from './support/db.ts';
import {
  call,
  FUNCTION_NAMES,
  type FunctionName,
  type Functions,
  postJson,
  startFunctions,
  useEnv,
} from './support/functions.ts';
import { createJobs } from './support/jobs.ts';
import { type OdooStandin, startOdoo } from './support/odoo.ts';

const TOKEN = 'RunnerToken-S3cret-0123';
const ODOO_PASSWORD = 'OdooRightPass-S3cret';
const WRONG_ODOO_PASSWORD = 'OdooWrongPass-S3cret';
const WRONG_DB_PASSWORD = 'WrongDbPassw0rd-S3cret';
const UNREACHABLE_PASSWORD = 'UnreachablePass-S3cret';
const CONFIG_PASSWORD = 'ConfigPass-S3cret';
const TARGETS_PASSWORD = 'TargetsPass-S3cret';
const ODOO_URL_PASSWORD = 'OdooUrlPass-S3cret';

let db: TestDatabase;
let odoo: OdooStandin;
let fns: Functions;
/** Everything any function or command wrote or answered, one entry per line, response or output. */
const captured: { where: string; text: string }[] = [];

beforeAll(async () => {
  await ensureBuilt();
  db = await createDatabase(inject('adminDatabaseUrl'));
  odoo = await startOdoo({
    databases: { [db.name]: db.url },
    auth: { user: 'proxy', password: ODOO_PASSWORD },
  });
  await setWebBaseUrl(db.pool, odoo.url);
  fns = await startFunctions();
  // The framework's own console output (e.g. its error handler) is captured too.
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      captured.push({ where: `console.${method}`, text: format(...args) });
    });
  }
});

afterAll(async () => {
  vi.restoreAllMocks();
  await fns?.close();
  await odoo?.close();
  await db?.close();
  useEnv({});
});

function withPassword(url: string, password: string): string {
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.toString();
}

interface Scenario {
  name: string;
  env: () => Record<string, string>;
  /** A configuration error stops every command at the same place: a few of them show it. */
  configError?: boolean;
}

const auth = { ODOO_QUEUE_JOB_HTTP_AUTH_USER: 'proxy', RUNNER_AUTH_TOKEN: TOKEN, LOG_LEVEL: 'debug' };

const scenarios: Scenario[] = [
  {
    name: 'working',
    env: () => ({ ...auth, DATABASE_URL: db.url, ODOO_QUEUE_JOB_HTTP_AUTH_PASSWORD: ODOO_PASSWORD }),
  },
  {
    name: 'wrong Odoo auth',
    env: () => ({ ...auth, DATABASE_URL: db.url, ODOO_QUEUE_JOB_HTTP_AUTH_PASSWORD: WRONG_ODOO_PASSWORD }),
  },
  {
    name: 'bad database password',
    env: () => ({
      ...auth,
      DATABASE_URL: withPassword(db.url, WRONG_DB_PASSWORD),
      ODOO_URL: odoo.url,
      ODOO_QUEUE_JOB_HTTP_AUTH_PASSWORD: ODOO_PASSWORD,
    }),
  },
  {
    name: 'unreachable database',
    env: () => ({
      ...auth,
      DATABASE_URL: `postgres://odoo:${UNREACHABLE_PASSWORD}@127.0.0.1:1/odoo`,
      ODOO_QUEUE_JOB_HTTP_AUTH_PASSWORD: ODOO_PASSWORD,
    }),
  },
  {
    name: 'several targets, one with a bad password',
    env: () => ({
      ...auth,
      QUEUE_JOB_TARGETS: JSON.stringify([
        { name: 'good', databaseUrl: db.url, httpAuthUser: 'proxy', httpAuthPassword: ODOO_PASSWORD },
        {
          name: 'bad',
          databaseUrl: withPassword(db.url, TARGETS_PASSWORD),
          httpAuthUser: 'proxy',
          httpAuthPassword: WRONG_ODOO_PASSWORD,
        },
      ]),
    }),
  },
  {
    name: 'bad config: not a postgres URL',
    configError: true,
    env: () => ({ ...auth, DATABASE_URL: `mysql://odoo:${CONFIG_PASSWORD}@db.example/odoo` }),
  },
  {
    name: 'bad config: unknown key in QUEUE_JOB_TARGETS',
    configError: true,
    env: () => ({
      ...auth,
      QUEUE_JOB_TARGETS: JSON.stringify([
        {
          name: 'x',
          databaseUrl: `postgres://odoo:${TARGETS_PASSWORD}@db.example/odoo`,
          password: TARGETS_PASSWORD,
        },
      ]),
    }),
  },
  {
    name: 'bad config: QUEUE_JOB_TARGETS not JSON',
    configError: true,
    env: () => ({
      ...auth,
      QUEUE_JOB_TARGETS: `[{"databaseUrl": "postgres://odoo:${TARGETS_PASSWORD}@db/odoo"`,
    }),
  },
  {
    name: 'bad config: ODOO_URL with credentials and a wrong scheme',
    configError: true,
    env: () => ({ ...auth, DATABASE_URL: db.url, ODOO_URL: `ftp://odoo:${ODOO_URL_PASSWORD}@odoo.example` }),
  },
  {
    name: 'bad config: Odoo password without user',
    configError: true,
    env: () => ({
      RUNNER_AUTH_TOKEN: TOKEN,
      DATABASE_URL: db.url,
      ODOO_QUEUE_JOB_HTTP_AUTH_PASSWORD: ODOO_PASSWORD,
      LOG_LEVEL: 'nonsense',
    }),
  },
];

const requests: Record<FunctionName, { query?: string; body?: unknown }[]> = {
  tick: [{ body: {} }, { query: 'window=0' }],
  keepalive: [{}],
  dispatch: [
    { body: { channel: 'root' } },
    { body: { uuids: ['no-such-job'], target: 'bad' } },
    { body: '{"broken' },
  ],
  status: [{}, { query: 'format=prometheus' }],
};

const commands = [
  ['tick'],
  ['tick', '--json'],
  ['keepalive', '--json'],
  ['dispatch', '--channel', 'root'],
  ['dispatch', '--uuid', 'no-such-job', '--json'],
  ['status'],
  ['status', '--json'],
  ['status', '--prometheus'],
  ['optimize', '--json'],
  ['optimize', '--drop'],
];

async function exerciseFunctions(scenario: Scenario): Promise<void> {
  useEnv(scenario.env(), (line) => captured.push({ where: `${scenario.name}: function log`, text: line }));
  for (const name of FUNCTION_NAMES) {
    for (const request of requests[name]) {
      for (const authorization of [`Bearer ${TOKEN}`, 'Bearer not-the-token', undefined]) {
        const headers: Record<string, string> = authorization ? { authorization } : {};
        const url = fns.url(name, request.query);
        const answer =
          request.body === undefined
            ? await call(url, { headers })
            : await postJson(url, request.body, headers);
        const lines: string[] = [];
        answer.headers.forEach((value, key) => {
          lines.push(`${key}: ${value}`);
        });
        const answerHeaders = lines.join('\n');
        captured.push({
          where: `${scenario.name}: ${name} ${request.query ?? ''} → ${answer.status}`,
          text: `${answerHeaders}\n\n${answer.text}`,
        });
      }
    }
  }
}

async function exerciseCommands(scenario: Scenario): Promise<void> {
  const chosen = scenario.configError ? commands.filter((_, i) => i % 3 === 0) : commands;
  const runs = await Promise.all(chosen.map((args) => cli(args, scenario.env())));
  runs.forEach((run, i) => {
    const where = `${scenario.name}: queue-job-runner ${chosen[i]!.join(' ')} → ${run.code}`;
    captured.push(
      { where: `${where} stdout`, text: run.stdout },
      { where: `${where} stderr`, text: run.stderr },
    );
  });
}

describe('no secret in any log line, response or output', () => {
  for (const scenario of scenarios) {
    it(`${scenario.name}`, async () => {
      await createJobs(db.pool, 3);
      await exerciseFunctions(scenario);
      await exerciseCommands(scenario);
    });
  }

  it('found none, and the error paths were really exercised', () => {
    const admin = new URL(inject('adminDatabaseUrl'));
    const secrets = [
      TOKEN,
      ODOO_PASSWORD,
      WRONG_ODOO_PASSWORD,
      WRONG_DB_PASSWORD,
      UNREACHABLE_PASSWORD,
      CONFIG_PASSWORD,
      TARGETS_PASSWORD,
      ODOO_URL_PASSWORD,
      decodeURIComponent(admin.password),
      db.url,
      inject('adminDatabaseUrl'),
      Buffer.from(`proxy:${ODOO_PASSWORD}`).toString('base64'),
      Buffer.from(`proxy:${WRONG_ODOO_PASSWORD}`).toString('base64'),
    ];
    expect(admin.password.length).toBeGreaterThan(3);
    const leaks: string[] = [];
    for (const { where, text } of captured) {
      for (const secret of secrets)
        if (text.includes(secret)) leaks.push(`${where}: contains ${secret.slice(0, 6)}…`);
      // A connection string with its credentials, whatever they are.
      const url = /(postgres(?:ql)?|mysql|ftp|https?):\/\/(?!\[redacted\]@)[^\s"'/@]+@/i.exec(text);
      if (url) leaks.push(`${where}: contains a URL with credentials (${url[0].slice(0, 12)}…)`);
    }
    expect(leaks).toEqual([]);

    const all = captured.map((c) => c.text).join('\n');
    expect(captured.length).toBeGreaterThan(300);
    expect(all).toMatch(/password authentication failed/);
    expect(all).toMatch(/ECONNREFUSED/);
    expect(all).toMatch(/Odoo answered 401/);
    expect(all).toMatch(/configuration error: DATABASE_URL: must be a postgres/);
    expect(all).toMatch(/configuration error: QUEUE_JOB_TARGETS: is not valid JSON/);
    expect(all).toMatch(/QUEUE_JOB_TARGETS: 0: Unrecognized key/);
    expect(all).toMatch(/configuration error: ODOO_URL: must be an http/);
    expect(all).toMatch(/a valid Authorization: Bearer token is required/);
    expect(all).toMatch(/"dispatched":\s?1/);
  });
});
