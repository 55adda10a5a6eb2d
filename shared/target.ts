/**
 * A target's resources for one invocation: its database pool, channel tree, Odoo endpoint and the
 * names of the settings that configure it (so errors can say what to fix). Opened per invocation and
 * closed before the function answers: nothing outlives a request.
 */
import type pg from 'pg';
import { type ChannelTree, channelTree } from './channels.ts';
import type { Config, Target } from './config.ts';
import { openPool } from './database.ts';
import { Dispatcher } from './dispatch.ts';
import type { Logger } from './log.ts';
import type { SettingNames } from './outcome.ts';
import * as sql from './sql.ts';

export interface TargetRuntime {
  target: Target;
  pool: pg.Pool;
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
  if (target.source === 'env') {
    return {
      auth: 'ODOO_QUEUE_JOB_HTTP_AUTH_USER',
      url: target.odooUrl ? 'ODOO_URL' : 'ODOO_URL (or web.base.url)',
      db: 'ODOO_DB',
    };
  }
  const where = `QUEUE_JOB_TARGETS[${target.name}]`;
  return {
    auth: `${where}.httpAuthUser`,
    url: target.odooUrl ? `${where}.odooUrl` : `${where}.odooUrl (or web.base.url)`,
    db: `${where}.db`,
  };
}

export function openTarget(target: Target, log: Logger): TargetRuntime {
  const pool = openPool(target.databaseUrl);
  return {
    target,
    pool,
    tree: channelTree(target.channels),
    log: log.child({ target: target.name }),
    settings: settingNames(target),
    close: () => pool.end().catch(() => {}),
  };
}

/** ODOO_URL, else the database's own web.base.url: a staging clone then calls itself, not production. */
export async function odooUrl(runtime: TargetRuntime): Promise<string> {
  if (runtime.target.odooUrl) return runtime.target.odooUrl;
  const { rows } = await runtime.pool.query<{ value: string }>(sql.webBaseUrl);
  const value = rows[0]?.value?.trim();
  if (!value) {
    throw new TargetError(
      `no Odoo URL: ${runtime.settings.url.replace(' (or web.base.url)', '')} is not set and the database has no web.base.url`,
    );
  }
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
  } catch {
    throw new TargetError(
      `web.base.url of the database is not an http(s) URL; set ${runtime.settings.url.replace(' (or web.base.url)', '')}`,
    );
  }
  return value.replace(/\/+$/, '');
}

export async function openDispatcher(runtime: TargetRuntime, config: Config): Promise<Dispatcher> {
  return new Dispatcher(
    { url: await odooUrl(runtime), db: runtime.target.db, auth: runtime.target.httpAuth },
    { timeoutMs: config.dispatchTimeoutMs, settings: runtime.settings },
  );
}

/** Upstream's built-in runner (2025+) holds its advisory lock on the database: two dispatchers break capacity. */
export async function upstreamRunnerActive(pool: pg.Pool): Promise<boolean> {
  const { rows } = await pool.query<{ held: boolean }>(sql.upstreamRunner);
  return rows[0]?.held ?? false;
}

export const UPSTREAM_RUNNER_HELP =
  "queue_job's built-in jobrunner is running on this database (it holds advisory lock 2293787760715711918); " +
  'nothing is dispatched while it runs. Disable it on every Odoo process with ODOO_QUEUE_JOB_CHANNELS=root:0 ' +
  '(or channels = root:0 in the [queue_job] section of odoo.conf) and restart Odoo.';

/** Whether `queue-job-runner optimize` created the helper indexes on this database (all of them, valid). */
export async function helperIndexesPresent(pool: pg.Pool): Promise<boolean> {
  const names = sql.helperIndexes.map((index) => index.name);
  const { rows } = await pool.query<{ name: string; valid: boolean }>(sql.helperIndexesPresent, [names]);
  return rows.filter((row) => row.valid).length === names.length;
}
