/**
 * A target's resources for one invocation: its transport (the database, directly or through the Odoo
 * addon), channel tree, Odoo endpoint and the names of the settings that configure it (so errors can
 * say what to fix). Opened per invocation and closed before the function answers: nothing outlives a
 * request. This is the one place that knows which transport a target uses.
 */
import { BridgeTransport } from './bridge.ts';
import { type ChannelTree, channelTree } from './channels.ts';
import type { PassIndexes } from './claim.ts';
import type { Config, Target } from './config.ts';
import { DirectTransport } from './direct.ts';
import { Dispatcher } from './dispatch.ts';
import type { Logger } from './log.ts';
import type { SettingNames } from './outcome.ts';
import * as sql from './sql.ts';
import { query, type Transport } from './transport.ts';

export interface TargetRuntime {
  target: Target;
  transport: Transport;
  tree: ChannelTree;
  log: Logger;
  settings: SettingNames;
  close(): Promise<void>;
}

export class TargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TargetError';
  }
}

/** The settings an operator edits for this target, as they are spelled in its configuration. */
export function settingNames(target: Target): SettingNames {
  const bridge = target.reach.via === 'bridge';
  if (target.source === 'env') {
    return {
      auth: 'ODOO_QUEUE_JOB_HTTP_AUTH_USER',
      url: target.odooUrl || bridge ? 'ODOO_URL' : 'ODOO_URL (or web.base.url)',
      db: 'ODOO_DB',
      token: 'ODOO_BRIDGE_TOKEN',
    };
  }
  const where = `QUEUE_JOB_TARGETS[${target.name}]`;
  return {
    auth: `${where}.httpAuthUser`,
    url: target.odooUrl || bridge ? `${where}.odooUrl` : `${where}.odooUrl (or web.base.url)`,
    db: `${where}.db`,
    token: `${where}.bridgeToken`,
  };
}

export function openTarget(
  target: Target,
  log: Logger,
  config?: Pick<Config, 'bridgePollMs'>,
): TargetRuntime {
  const settings = settingNames(target);
  const transport: Transport =
    target.reach.via === 'database'
      ? new DirectTransport(target.reach.databaseUrl)
      : new BridgeTransport(
          { url: target.odooUrl!, db: target.db, token: target.reach.token },
          { token: settings.token, url: settings.url, db: settings.db },
          config?.bridgePollMs ?? 1000,
        );
  return {
    target,
    transport,
    tree: channelTree(target.channels),
    log: log.child({ target: target.name }),
    settings,
    close: () => transport.close(),
  };
}

const bare = (setting: string) => setting.replace(' (or web.base.url)', '');

/** An http(s) base URL without its trailing slashes, or null. */
function baseUrl(value: string | undefined): string | null {
  const text = value?.trim();
  if (!text) return null;
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? text.replace(/\/+$/, '') : null;
  } catch {
    return null;
  }
}

/**
 * Where runjob requests go. Direct: ODOO_URL, else the database's own web.base.url (a staging clone
 * then calls itself, not production). Bridge: the database's web.base.url read through the addon, for
 * the same reason, else ODOO_URL (where the addon answered).
 */
export async function odooUrl(runtime: TargetRuntime): Promise<string> {
  const { target, transport, settings } = runtime;
  if (target.reach.via === 'database' && target.odooUrl) return target.odooUrl;
  const rows = await query<{ value: string | null }>(transport, sql.webBaseUrl);
  const raw = rows[0]?.value ?? undefined;
  const base = baseUrl(raw);
  if (base) return base;
  if (target.odooUrl) return target.odooUrl;
  throw new TargetError(
    raw?.trim()
      ? `web.base.url of the database is not an http(s) URL; set ${bare(settings.url)}`
      : `no Odoo URL: ${bare(settings.url)} is not set and the database has no web.base.url`,
  );
}

/** The `db=` Odoo must select: the configured one, else the database's own name. */
export async function odooDb(runtime: TargetRuntime): Promise<string> {
  if (runtime.target.db) return runtime.target.db;
  const rows = await query<{ name: string }>(runtime.transport, sql.currentDatabase);
  return rows[0]!.name;
}

export async function openDispatcher(runtime: TargetRuntime, config: Config): Promise<Dispatcher> {
  return new Dispatcher(
    { url: await odooUrl(runtime), db: await odooDb(runtime), auth: runtime.target.httpAuth },
    { timeoutMs: config.dispatchTimeoutMs, settings: runtime.settings },
  );
}

/**
 * Which of the helper indexes `queue-job-runner optimize` creates are on this database, valid: those
 * serving the candidate reads, the one serving throttled channels, and whether all are (status). Each
 * read uses its own as soon as they exist, so a database optimized before an index was added keeps the
 * ones it has until `optimize` runs again.
 */
export interface HelperIndexes extends PassIndexes {
  all: boolean;
}

export async function helperIndexesPresent(transport: Transport): Promise<HelperIndexes> {
  const names = sql.helperIndexes.map((index) => index.name);
  const rows = await query<{ name: string; valid: boolean }>(transport, sql.helperIndexesPresent, [names]);
  const valid = new Set(rows.filter((row) => row.valid).map((row) => row.name));
  const serving = (use: string) =>
    sql.helperIndexes.filter((index) => index.serves === use).every((index) => valid.has(index.name));
  return {
    candidates: serving('candidates'),
    throttle: serving('throttle'),
    all: sql.helperIndexes.every((index) => valid.has(index.name)),
  };
}
