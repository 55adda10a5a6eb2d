import { describe, expect, it } from 'vitest';
import { ConfigError, describeDatabaseUrl, loadConfig, SETTINGS } from '../shared/config.ts';

const SECRET = 'S3cr3t-p4ss';
const url = `postgres://odoo:${SECRET}@db.internal:5432/prod`;

function failure(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('one target from the single variables', () => {
  it('applies every default of the design table', () => {
    const config = loadConfig({ DATABASE_URL: url });
    expect(config.targets).toHaveLength(1);
    const [target] = config.targets;
    expect(target).toMatchObject({
      name: 'default',
      source: 'env',
      odooUrl: null,
      db: 'prod',
      paused: false,
      httpAuth: null,
    });
    expect(target?.channels).toEqual([{ name: 'root', capacity: 1, sequential: false, throttle: 0 }]);
    expect(config).toMatchObject({
      windowSeconds: 0,
      dispatchTimeoutMs: 1000,
      enqueuedTimeoutSeconds: 60,
      pgAppName: 'odoo-{pid}',
      runnerAuthToken: null,
      logLevel: 'info',
      keepaliveUrls: null,
      tickTargetConcurrency: 32,
      maxConnectionsPerServer: 50,
    });
  });

  it('reads every setting', () => {
    const config = loadConfig({
      DATABASE_URL: url,
      ODOO_URL: 'https://erp.example.com/',
      ODOO_DB: 'other',
      ODOO_QUEUE_JOB_CHANNELS: 'root:4,root.sub:2',
      ODOO_QUEUE_JOB_HTTP_AUTH_USER: 'runner',
      ODOO_QUEUE_JOB_HTTP_AUTH_PASSWORD: SECRET,
      TICK_WINDOW_SECONDS: '55',
      DISPATCH_TIMEOUT_MS: '2500',
      ENQUEUED_TIMEOUT_SECONDS: '120',
      ODOO_PGAPPNAME: 'erp-{pid}',
      RUNNER_AUTH_TOKEN: 'token-123456',
      LOG_LEVEL: 'debug',
      KEEPALIVE_URLS: 'https://erp.example.com/web/health, https://staging.example.com/web/health',
      TICK_TARGET_CONCURRENCY: '8',
      MAX_CONNECTIONS_PER_SERVER: '20',
    });
    expect(config.targets[0]).toMatchObject({
      odooUrl: 'https://erp.example.com',
      db: 'other',
      httpAuth: { user: 'runner', password: SECRET },
    });
    expect(config.targets[0]?.channels.map((c) => [c.name, c.capacity])).toEqual([
      ['root', 4],
      ['root.sub', 2],
    ]);
    expect(config).toMatchObject({
      windowSeconds: 55,
      dispatchTimeoutMs: 2500,
      enqueuedTimeoutSeconds: 120,
      pgAppName: 'erp-{pid}',
      runnerAuthToken: 'token-123456',
      logLevel: 'debug',
      keepaliveUrls: ['https://erp.example.com/web/health', 'https://staging.example.com/web/health'],
      tickTargetConcurrency: 8,
      maxConnectionsPerServer: 20,
    });
    // Below 5 a target in a window (pool of 4 + LISTEN) could never be served.
    expect(() => loadConfig({ DATABASE_URL: url, MAX_CONNECTIONS_PER_SERVER: '4' })).toThrow(
      /MAX_CONNECTIONS_PER_SERVER: must be between 5/,
    );
    expect(() => loadConfig({ DATABASE_URL: url, TICK_TARGET_CONCURRENCY: '0' })).toThrow(
      /TICK_TARGET_CONCURRENCY/,
    );
  });

  it("treats upstream's leading root:0 as a paused target", () => {
    expect(loadConfig({ DATABASE_URL: url, ODOO_QUEUE_JOB_CHANNELS: 'root:0' }).targets[0]?.paused).toBe(
      true,
    );
  });

  it('decodes the database name for the default db parameter', () => {
    expect(loadConfig({ DATABASE_URL: 'postgresql://u:p@h/my%20db' }).targets[0]?.db).toBe('my db');
  });
});

describe('many targets from QUEUE_JOB_TARGETS', () => {
  it('parses each target, inheriting channels and credentials from the single variables', () => {
    const config = loadConfig({
      ODOO_QUEUE_JOB_CHANNELS: 'root:3',
      QUEUE_JOB_TARGETS: JSON.stringify([
        { name: 'prod', databaseUrl: url, odooUrl: 'https://erp.example.com' },
        {
          name: 'staging',
          databaseUrl: 'postgres://u:p@staging/stg',
          channels: 'root:1',
          httpAuthUser: 'a',
          httpAuthPassword: 'b',
        },
      ]),
    });
    expect(
      config.targets.map((t) => [t.name, t.source, t.db, t.channels[0]?.capacity, t.httpAuth?.user]),
    ).toEqual([
      ['prod', 'targets', 'prod', 3, undefined],
      ['staging', 'targets', 'stg', 1, 'a'],
    ]);
  });
});

describe('invalid settings name the variable and never echo a secret', () => {
  const cases: [string, Record<string, string>, string][] = [
    ['no database', {}, 'DATABASE_URL'],
    ['database URL not postgres', { DATABASE_URL: `mysql://odoo:${SECRET}@h/db` }, 'DATABASE_URL'],
    ['database URL without database', { DATABASE_URL: `postgres://odoo:${SECRET}@h` }, 'DATABASE_URL'],
    ['Odoo URL not http', { DATABASE_URL: url, ODOO_URL: 'ftp://erp' }, 'ODOO_URL'],
    ['channels grammar', { DATABASE_URL: url, ODOO_QUEUE_JOB_CHANNELS: 'root:x' }, 'ODOO_QUEUE_JOB_CHANNELS'],
    [
      'sequential with capacity 2',
      { DATABASE_URL: url, ODOO_QUEUE_JOB_CHANNELS: 'root:4,s:2:sequential' },
      'ODOO_QUEUE_JOB_CHANNELS',
    ],
    [
      'password without user',
      { DATABASE_URL: url, ODOO_QUEUE_JOB_HTTP_AUTH_PASSWORD: SECRET },
      'ODOO_QUEUE_JOB_HTTP_AUTH_USER',
    ],
    ['window not a number', { DATABASE_URL: url, TICK_WINDOW_SECONDS: 'soon' }, 'TICK_WINDOW_SECONDS'],
    ['window too long', { DATABASE_URL: url, TICK_WINDOW_SECONDS: '99999' }, 'TICK_WINDOW_SECONDS'],
    ['negative timeout', { DATABASE_URL: url, DISPATCH_TIMEOUT_MS: '-5' }, 'DISPATCH_TIMEOUT_MS'],
    ['timeout too small', { DATABASE_URL: url, DISPATCH_TIMEOUT_MS: '10' }, 'DISPATCH_TIMEOUT_MS'],
    [
      'enqueued timeout fraction',
      { DATABASE_URL: url, ENQUEUED_TIMEOUT_SECONDS: '1.5' },
      'ENQUEUED_TIMEOUT_SECONDS',
    ],
    ['appname without pid', { DATABASE_URL: url, ODOO_PGAPPNAME: 'odoo' }, 'ODOO_PGAPPNAME'],
    ['log level', { DATABASE_URL: url, LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    ['keepalive URL', { DATABASE_URL: url, KEEPALIVE_URLS: `erp.example.com/${SECRET}` }, 'KEEPALIVE_URLS'],
    ['targets not JSON', { QUEUE_JOB_TARGETS: `[{"databaseUrl": "${url}"` }, 'QUEUE_JOB_TARGETS'],
    ['targets empty', { QUEUE_JOB_TARGETS: '[]' }, 'QUEUE_JOB_TARGETS'],
    [
      'target without name',
      { QUEUE_JOB_TARGETS: JSON.stringify([{ databaseUrl: url }]) },
      'QUEUE_JOB_TARGETS',
    ],
    [
      'target with bad database URL',
      { QUEUE_JOB_TARGETS: JSON.stringify([{ name: 'a', databaseUrl: `http://x:${SECRET}@h/db` }]) },
      'QUEUE_JOB_TARGETS',
    ],
    [
      'target with unknown key',
      { QUEUE_JOB_TARGETS: JSON.stringify([{ name: 'a', databaseUrl: url, password: SECRET }]) },
      'QUEUE_JOB_TARGETS',
    ],
    [
      'duplicate target names',
      {
        QUEUE_JOB_TARGETS: JSON.stringify([
          { name: 'a', databaseUrl: url },
          { name: 'a', databaseUrl: url },
        ]),
      },
      'QUEUE_JOB_TARGETS',
    ],
    [
      'target channels',
      { QUEUE_JOB_TARGETS: JSON.stringify([{ name: 'a', databaseUrl: url, channels: 'root:1:throttle=x' }]) },
      'QUEUE_JOB_TARGETS[a].channels',
    ],
    [
      'target password without user',
      { QUEUE_JOB_TARGETS: JSON.stringify([{ name: 'a', databaseUrl: url, httpAuthPassword: SECRET }]) },
      'QUEUE_JOB_TARGETS[a].httpAuthUser',
    ],
  ];
  it.each(cases)('%s', (_title, env, variable) => {
    const error = failure(env);
    expect(error.variable).toBe(variable);
    expect(error.message.startsWith(`${variable}: `)).toBe(true);
    expect(error.message).not.toContain(SECRET);
    expect(error.message).not.toContain(url);
  });
});

describe('settings', () => {
  it('lists every variable read, secrets marked', () => {
    expect(SETTINGS.filter((s) => s.secret).map((s) => s.name)).toEqual([
      'DATABASE_URL',
      'ODOO_QUEUE_JOB_HTTP_AUTH_PASSWORD',
      'ODOO_BRIDGE_TOKEN',
      'QUEUE_JOB_TARGETS',
      'RUNNER_AUTH_TOKEN',
    ]);
  });

  it('describes a database without credentials', () => {
    expect(describeDatabaseUrl(url)).toBe('db.internal:5432/prod');
  });
});

describe('bridge targets (the companion Odoo addon instead of a database URL)', () => {
  const token = 'a-bridge-token-of-32-characters!';

  it('reads ODOO_URL + ODOO_BRIDGE_TOKEN as a bridge target, ODOO_DB optional', () => {
    const config = loadConfig({ ODOO_URL: 'https://acme.odoo.com/', ODOO_BRIDGE_TOKEN: token });
    expect(config.targets[0]).toMatchObject({
      reach: { via: 'bridge', token },
      odooUrl: 'https://acme.odoo.com',
      db: null,
    });
    expect(config.bridgePollMs).toBe(1000);
    const named = loadConfig({ ODOO_URL: 'https://x.example', ODOO_BRIDGE_TOKEN: token, ODOO_DB: 'prod' });
    expect(named.targets[0]?.db).toBe('prod');
  });

  it('refuses a token without ODOO_URL, both ways in at once, basic auth beside it, a short token', () => {
    expect(() => loadConfig({ ODOO_BRIDGE_TOKEN: token })).toThrow(
      /^ODOO_URL: is required with ODOO_BRIDGE_TOKEN/,
    );
    expect(() =>
      loadConfig({ ODOO_URL: 'https://x.example', ODOO_BRIDGE_TOKEN: token, DATABASE_URL: url }),
    ).toThrow(
      /^ODOO_BRIDGE_TOKEN: set either DATABASE_URL \(direct\) or ODOO_BRIDGE_TOKEN \(bridge\), not both/,
    );
    expect(() =>
      loadConfig({
        ODOO_URL: 'https://x.example',
        ODOO_BRIDGE_TOKEN: token,
        ODOO_QUEUE_JOB_HTTP_AUTH_USER: 'u',
        ODOO_QUEUE_JOB_HTTP_AUTH_PASSWORD: 'p',
      }),
    ).toThrow(/^ODOO_QUEUE_JOB_HTTP_AUTH_USER: cannot be combined with ODOO_BRIDGE_TOKEN/);
    expect(() => loadConfig({ ODOO_URL: 'https://x.example', ODOO_BRIDGE_TOKEN: 'short' })).toThrow(
      /^ODOO_BRIDGE_TOKEN: must be at least 32 characters \(the addon refuses shorter ones\)$/,
    );
    expect(() => loadConfig({})).toThrow(/^DATABASE_URL: is required \(or ODOO_BRIDGE_TOKEN with ODOO_URL/);
  });

  it('takes bridgeToken in QUEUE_JOB_TARGETS, naming the entry in errors, never echoing the token', () => {
    const config = loadConfig({
      QUEUE_JOB_TARGETS: JSON.stringify([
        { name: 'sh', odooUrl: 'https://acme.odoo.com', bridgeToken: token },
        { name: 'self', databaseUrl: url },
      ]),
    });
    expect(config.targets.map((t) => t.reach.via)).toEqual(['bridge', 'database']);
    let message = '';
    try {
      loadConfig({ QUEUE_JOB_TARGETS: JSON.stringify([{ name: 'sh', bridgeToken: token }]) });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe(
      'QUEUE_JOB_TARGETS[sh].odooUrl: is required with QUEUE_JOB_TARGETS[sh].bridgeToken: the bridge addon answers there',
    );
    expect(message).not.toContain(token);
  });

  it('checks BRIDGE_POLL_MS', () => {
    expect(loadConfig({ DATABASE_URL: url, BRIDGE_POLL_MS: '250' }).bridgePollMs).toBe(250);
    expect(() => loadConfig({ DATABASE_URL: url, BRIDGE_POLL_MS: '10' })).toThrow(
      /^BRIDGE_POLL_MS: must be between 100 and 60000/,
    );
  });
});
