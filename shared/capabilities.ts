/**
 * The capability probe (issue 10): what this target's Odoo and queue_job are, read from the database
 * once per tick and kept for the window, so behaviour follows the module actually installed instead of
 * a guess. One statement (`sql.capabilities`); `assess` is pure: the probe in, what the runner may do out.
 *
 * - series and queue_job version (ir_module_module): 16.0 to 19.0 are served; anything else, or a
 *   queue_job that is not installed, is refused with a message naming what was found;
 * - the lock table (18.0+ and 2025+ backports): the liveness signal of `started` jobs;
 * - the built-in runner: its advisory lock (2025+), or on any version a session that behaves like it
 *   (an Odoo connection listening on queue_job): refused, two dispatchers break capacities;
 * - the columns the runner relies on: refused when one is missing;
 * - modules being installed or upgraded: the database is skipped for the pass (jobs would run against
 *   a half-migrated registry), with an error once that has lasted over an hour.
 */
import * as sql from './sql.ts';
import { query, type Transport } from './transport.ts';

/** The queue_job columns the runner reads or writes. */
export const REQUIRED_COLUMNS = [
  'id',
  'uuid',
  'state',
  'channel',
  'priority',
  'date_created',
  'eta',
  'date_enqueued',
  'date_started',
  'retry',
  'max_retries',
  'worker_pid',
  'exc_name',
  'exc_message',
  'exc_info',
] as const;

/**
 * How upstream's runner shows in pg_stat_activity (jobrunner/runner.py, the same on 16.0-19.0): its
 * connection sits idle after `LISTEN queue_job` (at start) or its keepalive `SELECT 1` (every loop
 * without notifications, at most 60 s apart)...
 */
export const BUILTIN_RUNNER_IDLE = ['LISTEN queue_job', 'SELECT 1'] as const;
/**
 * ...or was last seen running one of its fixed statements: the job read (through a server-side cursor
 * named select_jobs) and the enqueue UPDATE, which has no state guard.
 */
export const BUILTIN_RUNNER_STATEMENTS = [
  '%SELECT channel, uuid, id as seq, date_created%FROM queue_job WHERE%',
  '%"select_jobs"%',
  "UPDATE queue_job SET state='enqueued', date_enqueued=date_trunc(%WHERE uuid=%",
] as const;

/** The Odoo series this runner knows (contract sections 3 and 7). */
export const SUPPORTED_SERIES = ['16.0', '17.0', '18.0', '19.0'] as const;

/** A module upgrade that has not ended after this long is reported as an error, not only skipped. */
export const STUCK_UPGRADE_MS = 60 * 60 * 1000;

export interface RunnerSession {
  pid: number;
  applicationName: string;
  state: string | null;
  /** Its last statement, trimmed to 120 characters. */
  query: string;
}

export interface ChangingModule {
  name: string;
  state: string;
  /** Last write of the module's row (epoch ms), when the table has the column. */
  since: number | null;
}

export interface Capabilities {
  /** queue_job's row in ir_module_module, or null when the module is unknown to Odoo. */
  queueJob: { state: string | null; version: string | null } | null;
  baseVersion: string | null;
  /** '16.0' … from queue_job's version; null when it cannot be read. */
  series: string | null;
  lockTable: 'queue_job_lock' | 'queue_job_locks' | null;
  advisoryLock: boolean;
  builtinRunner: RunnerSession[];
  missingColumns: string[];
  modulesChanging: ChangingModule[];
  /** The database clock when read, epoch ms. */
  at: number;
}

interface CapabilitiesRow extends Omit<Capabilities, 'series' | 'at'> {
  now: number;
}

/** '17.0.1.0.5' → '17.0'; null for anything that is not an Odoo module version. */
export function seriesOf(version: string | null | undefined): string | null {
  const match = /^(\d+)\.(\d+)\./.exec(version ?? '');
  return match ? `${Number(match[1])}.${Number(match[2])}` : null;
}

export async function probe(transport: Transport, pgAppName: string): Promise<Capabilities> {
  const [row] = await query<CapabilitiesRow>(transport, sql.capabilities, [
    pgAppName,
    [...REQUIRED_COLUMNS],
    [...BUILTIN_RUNNER_IDLE],
    [...BUILTIN_RUNNER_STATEMENTS],
  ]);
  const found = row!;
  return {
    queueJob: found.queueJob,
    baseVersion: found.baseVersion,
    series: seriesOf(found.queueJob?.version),
    lockTable: found.lockTable,
    advisoryLock: found.advisoryLock,
    builtinRunner: found.builtinRunner,
    missingColumns: found.missingColumns,
    modulesChanging: found.modulesChanging,
    at: found.now,
  };
}

export interface Assessment {
  /** The target is not served: a message saying what was found and what to do. */
  refused: string | null;
  /** Why the database is refused, for status and summaries. */
  reason: 'not_installed' | 'unsupported_version' | 'missing_columns' | 'builtin_runner' | null;
  /** The database is skipped for this pass (modules changing): what to tell. */
  skipped: string | null;
  /** The skip has lasted over STUCK_UPGRADE_MS: it is an error, not just a wait. */
  stuck: boolean;
}

export const BUILTIN_RUNNER_HELP =
  'disable it on every Odoo process with ODOO_QUEUE_JOB_CHANNELS=root:0 (or channels = root:0 in the ' +
  '[queue_job] section of odoo.conf) and restart Odoo';

function describeSessions(sessions: readonly RunnerSession[]): string {
  return sessions
    .slice(0, 3)
    .map((s) => `${s.applicationName} (backend pid ${s.pid}, last statement '${s.query}')`)
    .join(', ');
}

/** What the runner may do with a target, from its probe. Checks in order: the first refusal wins. */
export function assess(caps: Capabilities): Assessment {
  const none = { refused: null, reason: null, skipped: null, stuck: false } as const;
  const refuse = (reason: NonNullable<Assessment['reason']>, refused: string): Assessment => ({
    ...none,
    refused,
    reason,
  });
  if (caps.advisoryLock) {
    return refuse(
      'builtin_runner',
      `queue_job's built-in jobrunner is running on this database (it holds advisory lock 2293787760715711918); nothing is dispatched while it runs: ${BUILTIN_RUNNER_HELP}`,
    );
  }
  if (caps.builtinRunner.length > 0) {
    return refuse(
      'builtin_runner',
      `queue_job's built-in jobrunner is running on this database: ${describeSessions(caps.builtinRunner)} listens on queue_job; nothing is dispatched while it runs: ${BUILTIN_RUNNER_HELP}`,
    );
  }
  const state = caps.queueJob?.state ?? null;
  if (caps.queueJob === null || (state !== 'installed' && state !== 'to upgrade')) {
    return refuse(
      'not_installed',
      caps.queueJob === null
        ? 'queue_job is not installed in this database (no ir_module_module row): check the database URL'
        : `queue_job is not installed in this database (module state '${state}'): install it, or check the database URL`,
    );
  }
  const version = caps.queueJob.version;
  if (caps.series === null || !(SUPPORTED_SERIES as readonly string[]).includes(caps.series)) {
    const older = caps.series !== null && Number.parseFloat(caps.series) < 16;
    return refuse(
      'unsupported_version',
      `queue_job ${version ?? '(no version)'} is ${older ? 'too old' : 'not a version this runner knows'}: it serves queue_job 16.0 to 19.0`,
    );
  }
  if (caps.missingColumns.length > 0) {
    return refuse(
      'missing_columns',
      `queue_job ${version} lacks column(s) the runner relies on: ${caps.missingColumns.join(', ')}; is the module fully upgraded?`,
    );
  }
  if (caps.modulesChanging.length > 0) {
    const names = caps.modulesChanging.map((m) => `${m.name} (${m.state})`).join(', ');
    const oldest = Math.min(...caps.modulesChanging.map((m) => m.since ?? caps.at));
    const stuck = caps.at - oldest > STUCK_UPGRADE_MS;
    return {
      ...none,
      skipped: stuck
        ? `modules have been waiting to be installed or upgraded for over an hour: ${names}; nothing is dispatched on this database until Odoo finishes: finish the upgrade (odoo -u) or cancel it (Apps, "Cancel Install/Upgrade")`
        : `modules are being installed or upgraded: ${names}; this database is skipped until Odoo finishes (jobs would run against a half-migrated registry)`,
      stuck,
    };
  }
  return none;
}
