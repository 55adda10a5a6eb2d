/**
 * Configuration: every setting is an environment variable, parsed once with zod into one typed object.
 * An invalid value fails with a ConfigError naming the variable and the problem, never the value of a
 * secret (connection strings, passwords, tokens).
 */
import * as z from 'zod';
import { type ChannelConfig, ChannelsError, parseChannels, runnerDisabled } from './channels.ts';

export type LogLevel = 'debug' | 'info' | 'warning' | 'error';

export interface HttpAuth {
  user: string;
  password: string;
}

/**
 * How the runner reaches a target's database: a PostgreSQL connection string, or the companion Odoo
 * addon over HTTPS (Odoo.sh, or a database that stays closed to the runner) with its bearer token.
 * Both are secrets: never log them.
 */
export type Reach = { via: 'database'; databaseUrl: string } | { via: 'bridge'; token: string };

/** One Odoo database served by the runner. */
export interface Target {
  name: string;
  /** Where it was configured: the single-target variables, or one entry of QUEUE_JOB_TARGETS. */
  source: 'env' | 'targets';
  reach: Reach;
  /**
   * Base URL of Odoo. Direct: where runjob requests go; null = the database's `web.base.url`. Bridge:
   * where the addon answers (required); runjob requests go to `web.base.url` read through it, else here.
   */
  odooUrl: string | null;
  /** The `db=` parameter sent to Odoo; null = the database's own name (asked through the bridge). */
  db: string | null;
  channels: ChannelConfig[];
  /** `root:0` (upstream's "runner disabled"): the target is paused, nothing is dispatched. */
  paused: boolean;
  httpAuth: HttpAuth | null;
}

export interface Config {
  targets: Target[];
  windowSeconds: number;
  dispatchTimeoutMs: number;
  enqueuedTimeoutSeconds: number;
  /** Odoo's application_name pattern, `{pid}` replaced by the worker pid. */
  pgAppName: string;
  /** Clock-skew allowance for the started-job liveness check; not an environment setting. */
  startedGraceSeconds: number;
  runnerAuthToken: string | null;
  logLevel: LogLevel;
  /** null = each target's `{odooUrl}/web/health`. */
  keepaliveUrls: string[] | null;
  /** How often a bridge target's window passes (it cannot LISTEN). */
  bridgePollMs: number;
  /** How many targets one tick serves at once. */
  tickTargetConcurrency: number;
  /** Most connections one tick opens to one database server (host:port), all its targets together. */
  maxConnectionsPerServer: number;
}

/** Every environment variable the runner reads; `secret` ones must reach it through a secret store. */
export const SETTINGS = [
  { name: 'DATABASE_URL', secret: true },
  { name: 'ODOO_URL', secret: false },
  { name: 'ODOO_DB', secret: false },
  { name: 'ODOO_QUEUE_JOB_CHANNELS', secret: false },
  { name: 'ODOO_QUEUE_JOB_HTTP_AUTH_USER', secret: false },
  { name: 'ODOO_QUEUE_JOB_HTTP_AUTH_PASSWORD', secret: true },
  { name: 'ODOO_BRIDGE_TOKEN', secret: true },
  { name: 'BRIDGE_POLL_MS', secret: false },
  { name: 'QUEUE_JOB_TARGETS', secret: true },
  { name: 'TICK_WINDOW_SECONDS', secret: false },
  { name: 'DISPATCH_TIMEOUT_MS', secret: false },
  { name: 'ENQUEUED_TIMEOUT_SECONDS', secret: false },
  { name: 'ODOO_PGAPPNAME', secret: false },
  { name: 'RUNNER_AUTH_TOKEN', secret: true },
  // Read by functions/auth.ts, not by loadConfig: only the HTTP functions authenticate callers.
  { name: 'RUNNER_ALLOW_UNAUTHENTICATED', secret: false },
  { name: 'LOG_LEVEL', secret: false },
  { name: 'KEEPALIVE_URLS', secret: false },
  { name: 'TICK_TARGET_CONCURRENCY', secret: false },
  { name: 'MAX_CONNECTIONS_PER_SERVER', secret: false },
] as const;

export type SettingName = (typeof SETTINGS)[number]['name'];
type Env = Partial<Record<string, string | undefined>>;

export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

/** Odoo's clock and PostgreSQL's may differ by this much; younger started jobs are never judged. */
const STARTED_GRACE_SECONDS = 10;

/** Longest window that still leaves Cloud Scheduler's minute free for the next tick to overlap safely. */
const MAX_WINDOW_SECONDS = 3500;

const postgresUrl = z.string().refine(
  (value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.pathname.length > 1;
    } catch {
      return false;
    }
  },
  { message: 'must be a postgres:// or postgresql:// URL that names a database' },
);

const httpUrl = z.string().refine(
  (value) => {
    try {
      const url = new URL(value);
      return url.protocol === 'http:' || url.protocol === 'https:';
    } catch {
      return false;
    }
  },
  { message: 'must be an http:// or https:// URL' },
);

const targetSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be 1-63 letters, digits, dot, dash or underscore'),
  databaseUrl: postgresUrl.optional(),
  bridgeToken: z
    .string()
    .min(32, 'must be at least 32 characters (the addon refuses shorter ones)')
    .optional(),
  odooUrl: httpUrl.optional(),
  db: z.string().min(1).optional(),
  channels: z.string().optional(),
  httpAuthUser: z.string().min(1).optional(),
  httpAuthPassword: z.string().optional(),
});

function integer(variable: string, raw: string | undefined, fallback: number, min: number, max: number) {
  if (raw === undefined || raw.trim() === '') return fallback;
  const text = raw.trim();
  if (!/^\d+$/.test(text)) throw new ConfigError(variable, `must be a whole number, got "${text}"`);
  const value = Number(text);
  if (value < min || value > max)
    throw new ConfigError(variable, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

function present(raw: string | undefined): string | undefined {
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
}

/** The database name of a connection string, the default `db=` parameter. */
export function databaseName(databaseUrl: string): string {
  return decodeURIComponent(new URL(databaseUrl).pathname.slice(1));
}

/** Where a target's database is reached, safe to print: host, port and database, or the bridge's Odoo. */
export function describeReach(target: Target): string {
  return target.reach.via === 'database'
    ? describeDatabaseUrl(target.reach.databaseUrl)
    : `bridge at ${target.odooUrl}${target.db ? ` (db ${target.db})` : ''}`;
}

/** A connection string reduced to what is safe to print: host, port and database, no user or password. */
export function describeDatabaseUrl(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    return `${url.hostname || 'localhost'}${url.port ? `:${url.port}` : ''}/${databaseName(databaseUrl)}`;
  } catch {
    return '(unparsable database URL)';
  }
}

function channels(
  variable: string,
  text: string | undefined,
): { channels: ChannelConfig[]; paused: boolean } {
  const source = text ?? 'root:1';
  try {
    return { channels: parseChannels(source), paused: runnerDisabled(source) };
  } catch (error) {
    if (error instanceof ChannelsError) throw new ConfigError(variable, error.message);
    throw error;
  }
}

function httpAuth(variable: string, user: string | undefined, password: string | undefined): HttpAuth | null {
  if (user === undefined) {
    if (password !== undefined) throw new ConfigError(variable, 'a password is set without a user');
    return null;
  }
  return { user, password: password ?? '' };
}

function zodProblem(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.join('.');
      // zod may quote the received value in some messages; these fields hold secrets, so say only where.
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

/**
 * A target's way in: exactly one of a database URL and a bridge token; a bridge needs Odoo's URL (where
 * the addon answers) and cannot share the Authorization header with basic auth in front of Odoo.
 */
function reach(
  names: { databaseUrl: string; token: string; odooUrl: string; auth: string },
  databaseUrl: string | undefined,
  token: string | undefined,
  odooUrl: string | undefined,
  auth: HttpAuth | null,
): Reach {
  if (databaseUrl !== undefined && token !== undefined) {
    throw new ConfigError(
      names.token,
      `set either ${names.databaseUrl} (direct) or ${names.token} (bridge), not both`,
    );
  }
  if (token !== undefined) {
    if (odooUrl === undefined)
      throw new ConfigError(names.odooUrl, `is required with ${names.token}: the bridge addon answers there`);
    if (auth !== null)
      throw new ConfigError(
        names.auth,
        `cannot be combined with ${names.token}: the bridge token travels in the Authorization header`,
      );
    return { via: 'bridge', token };
  }
  if (databaseUrl === undefined) {
    throw new ConfigError(
      names.databaseUrl,
      `is required (or ${names.token} with ${names.odooUrl} to reach the database through the Odoo addon)`,
    );
  }
  return { via: 'database', databaseUrl };
}

function singleTarget(env: Env): Target {
  const databaseUrl = present(env.DATABASE_URL);
  if (databaseUrl !== undefined && !postgresUrl.safeParse(databaseUrl).success) {
    throw new ConfigError('DATABASE_URL', 'must be a postgres:// or postgresql:// URL that names a database');
  }
  const token = present(env.ODOO_BRIDGE_TOKEN);
  if (token !== undefined && token.length < 32)
    throw new ConfigError(
      'ODOO_BRIDGE_TOKEN',
      'must be at least 32 characters (the addon refuses shorter ones)',
    );
  const odooUrl = present(env.ODOO_URL);
  if (odooUrl !== undefined && !httpUrl.safeParse(odooUrl).success) {
    throw new ConfigError('ODOO_URL', `must be an http:// or https:// URL, got "${odooUrl}"`);
  }
  const parsed = channels('ODOO_QUEUE_JOB_CHANNELS', present(env.ODOO_QUEUE_JOB_CHANNELS));
  const auth = httpAuth(
    'ODOO_QUEUE_JOB_HTTP_AUTH_USER',
    present(env.ODOO_QUEUE_JOB_HTTP_AUTH_USER),
    present(env.ODOO_QUEUE_JOB_HTTP_AUTH_PASSWORD),
  );
  const names = {
    databaseUrl: 'DATABASE_URL',
    token: 'ODOO_BRIDGE_TOKEN',
    odooUrl: 'ODOO_URL',
    auth: 'ODOO_QUEUE_JOB_HTTP_AUTH_USER',
  };
  return {
    name: 'default',
    source: 'env',
    reach: reach(names, databaseUrl, token, odooUrl, auth),
    odooUrl: odooUrl === undefined ? null : odooUrl.replace(/\/+$/, ''),
    db: present(env.ODOO_DB) ?? (databaseUrl === undefined ? null : databaseName(databaseUrl)),
    ...parsed,
    httpAuth: auth,
  };
}

function manyTargets(text: string, env: Env): Target[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError('QUEUE_JOB_TARGETS', 'is not valid JSON (expected a list of targets)');
  }
  const parsed = z.array(targetSchema).min(1, 'must list at least one target').safeParse(json);
  if (!parsed.success) throw new ConfigError('QUEUE_JOB_TARGETS', zodProblem(parsed.error));
  const seen = new Set<string>();
  return parsed.data.map((entry, index) => {
    if (seen.has(entry.name)) {
      throw new ConfigError('QUEUE_JOB_TARGETS', `${index}.name: duplicate target name "${entry.name}"`);
    }
    seen.add(entry.name);
    const where = `QUEUE_JOB_TARGETS[${entry.name}]`;
    // A target without its own channels or credentials inherits the single-target variables.
    const channelText = entry.channels ?? present(env.ODOO_QUEUE_JOB_CHANNELS);
    const inherited = entry.httpAuthUser === undefined && entry.httpAuthPassword === undefined;
    const auth = inherited
      ? httpAuth(
          'ODOO_QUEUE_JOB_HTTP_AUTH_USER',
          present(env.ODOO_QUEUE_JOB_HTTP_AUTH_USER),
          present(env.ODOO_QUEUE_JOB_HTTP_AUTH_PASSWORD),
        )
      : httpAuth(`${where}.httpAuthUser`, entry.httpAuthUser, entry.httpAuthPassword);
    const names = {
      databaseUrl: `${where}.databaseUrl`,
      token: `${where}.bridgeToken`,
      odooUrl: `${where}.odooUrl`,
      auth: inherited ? 'ODOO_QUEUE_JOB_HTTP_AUTH_USER' : `${where}.httpAuthUser`,
    };
    return {
      name: entry.name,
      source: 'targets' as const,
      reach: reach(names, entry.databaseUrl, entry.bridgeToken, entry.odooUrl, auth),
      odooUrl: entry.odooUrl?.replace(/\/+$/, '') ?? null,
      db: entry.db ?? (entry.databaseUrl === undefined ? null : databaseName(entry.databaseUrl)),
      ...channels(
        entry.channels === undefined ? 'ODOO_QUEUE_JOB_CHANNELS' : `${where}.channels`,
        channelText,
      ),
      httpAuth: auth,
    };
  });
}

const logLevels: readonly LogLevel[] = ['debug', 'info', 'warning', 'error'];

function logLevel(raw: string | undefined): LogLevel {
  const value = present(raw)?.toLowerCase();
  if (value === undefined) return 'info';
  if (value === 'warn') return 'warning';
  if ((logLevels as readonly string[]).includes(value)) return value as LogLevel;
  throw new ConfigError('LOG_LEVEL', `must be one of ${logLevels.join(', ')}, got "${value}"`);
}

function keepaliveUrls(raw: string | undefined): string[] | null {
  const text = present(raw);
  if (text === undefined) return null;
  const urls = text
    .split(/[\s,]+/)
    .map((url) => url.trim())
    .filter(Boolean);
  for (const url of urls) {
    if (!httpUrl.safeParse(url).success) {
      // Keep-alive URLs may carry credentials in rare setups: name the position, not the value.
      throw new ConfigError(
        'KEEPALIVE_URLS',
        `entry ${urls.indexOf(url) + 1} is not an http:// or https:// URL`,
      );
    }
  }
  return urls;
}

function pgAppName(raw: string | undefined): string {
  const value = present(raw) ?? 'odoo-{pid}';
  if (!value.includes('{pid}')) {
    throw new ConfigError('ODOO_PGAPPNAME', `must contain "{pid}" (Odoo replaces it with the worker pid)`);
  }
  return value;
}

/** Reads the whole configuration from the environment; throws ConfigError on the first invalid setting. */
export function loadConfig(env: Env = process.env): Config {
  const targetsText = present(env.QUEUE_JOB_TARGETS);
  const targets = targetsText === undefined ? [singleTarget(env)] : manyTargets(targetsText, env);
  return {
    targets,
    windowSeconds: integer('TICK_WINDOW_SECONDS', env.TICK_WINDOW_SECONDS, 0, 0, MAX_WINDOW_SECONDS),
    dispatchTimeoutMs: integer('DISPATCH_TIMEOUT_MS', env.DISPATCH_TIMEOUT_MS, 1000, 50, 60_000),
    enqueuedTimeoutSeconds: integer('ENQUEUED_TIMEOUT_SECONDS', env.ENQUEUED_TIMEOUT_SECONDS, 60, 5, 86_400),
    pgAppName: pgAppName(env.ODOO_PGAPPNAME),
    startedGraceSeconds: STARTED_GRACE_SECONDS,
    runnerAuthToken: present(env.RUNNER_AUTH_TOKEN) ?? null,
    logLevel: logLevel(env.LOG_LEVEL),
    keepaliveUrls: keepaliveUrls(env.KEEPALIVE_URLS),
    bridgePollMs: integer('BRIDGE_POLL_MS', env.BRIDGE_POLL_MS, 1000, 100, 60_000),
    tickTargetConcurrency: integer('TICK_TARGET_CONCURRENCY', env.TICK_TARGET_CONCURRENCY, 32, 1, 1000),
    // A target in a window may hold its pool (4, database.ts) and a LISTEN connection: 5 at least.
    maxConnectionsPerServer: integer(
      'MAX_CONNECTIONS_PER_SERVER',
      env.MAX_CONNECTIONS_PER_SERVER,
      50,
      5,
      100_000,
    ),
  };
}
