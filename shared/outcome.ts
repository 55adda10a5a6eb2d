/**
 * Dispatch outcomes (design, "Dispatch outcomes"): what one GET /queue_job/runjob led to, and what the
 * runner must do about it. Pure: a response status or a transport error in, a decision out.
 */

export type Outcome =
  /** 200: ran, postponed, or not taken; the row tells which. */
  | { kind: 'accepted'; status: number }
  /** 500 and the row is no longer `enqueued`: the job raised; Odoo wrote `failed`. */
  | { kind: 'failed'; status: number }
  /**
   * 500 and the guarded revert moved the row: Odoo never took the job. A multi-database Odoo answers
   * so for a database it will not select (a wrong ODOO_DB, a dbfilter; 19.0 without X-Odoo-Database).
   */
  | { kind: 'not_selected'; status: number; db: string; setting: string }
  /** Connected and sent, no response head before the dispatch timeout: Odoo is running it. */
  | { kind: 'running' }
  /** Odoo never got the request: refused, DNS, TLS, connect timeout. */
  | { kind: 'unreachable'; error: string }
  /** The connection dropped with no response: Odoo may or may not have got it (a worker crash, a reset). */
  | { kind: 'lost'; error: string }
  /** 502/503/504: a proxy answered for a sleeping or overloaded worker. */
  | { kind: 'unavailable'; status: number }
  /** 401/403/404: wrong credentials, wrong URL or database, or queue_job not loaded. */
  | { kind: 'misconfigured'; status: number; setting: string }
  /** Any other status: not Odoo's controller talking (a redirect, a login page…). */
  | { kind: 'unexpected'; status: number };

export type OutcomeKind = Outcome['kind'];

export const outcomeKinds: readonly OutcomeKind[] = [
  'accepted',
  'failed',
  'not_selected',
  'running',
  'unreachable',
  'lost',
  'unavailable',
  'misconfigured',
  'unexpected',
];

/** Names of the settings a misconfiguration points at, per target (single-target or QUEUE_JOB_TARGETS). */
export interface SettingNames {
  auth: string;
  url: string;
  db: string;
  /** The bridge token's setting (bridge targets). */
  token: string;
}

export function classifyStatus(status: number, settings: SettingNames): Outcome {
  if (status >= 200 && status < 300) return { kind: 'accepted', status };
  if (status === 500) return { kind: 'failed', status };
  if (status === 502 || status === 503 || status === 504) return { kind: 'unavailable', status };
  if (status === 401 || status === 403) return { kind: 'misconfigured', status, setting: settings.auth };
  if (status === 404) return { kind: 'misconfigured', status, setting: settings.url };
  return { kind: 'unexpected', status };
}

/** undici's code for "sent, but no response head in time": the job is running in Odoo. */
const RUNNING_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT']);
/** A connection that was open and then dropped: the request may have reached Odoo. */
const LOST_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_BODY_TIMEOUT',
]);

export function classifyError(error: unknown): Outcome {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && RUNNING_CODES.has(code)) return { kind: 'running' };
  const message = error instanceof Error ? error.message : String(error);
  const detail = typeof code === 'string' ? `${code}: ${message}` : message;
  if (typeof code === 'string' && LOST_CODES.has(code)) return { kind: 'lost', error: detail };
  return { kind: 'unreachable', error: detail };
}

/** Odoo received the request: it answered as its controller does, or it is running the job. */
export function delivered(outcome: Outcome): boolean {
  return outcome.kind === 'accepted' || outcome.kind === 'failed' || outcome.kind === 'running';
}

/**
 * Whether the claimed job must go back to pending (guarded by state = 'enqueued'). A lost connection
 * is reverted too: if Odoo did get the job it has committed `started`, and the guard changes nothing.
 */
export function mustRevert(outcome: Outcome): boolean {
  return !delivered(outcome);
}

/**
 * A 500 proves nothing by itself (design, "Dispatch outcomes"): only the row tells whether Odoo ran the
 * job and wrote `failed`, or never selected the database. The guarded revert that follows every 500
 * asks it: when the revert moved the row, this is the outcome that replaces `failed`.
 */
export function notSelected(status: number, db: string, settings: SettingNames): Outcome {
  return { kind: 'not_selected', status, db, setting: settings.db };
}

/** Whether the target is unhealthy: stop sending it more jobs in this pass. A lost connection is not. */
export function stopsTarget(outcome: Outcome): boolean {
  return mustRevert(outcome) && outcome.kind !== 'lost';
}

/** One line an operator can act on, naming the setting when it is configuration. */
export function explain(outcome: Outcome): string {
  switch (outcome.kind) {
    case 'accepted':
      return 'Odoo answered 200 (ran, postponed or not taken)';
    case 'failed':
      return 'the job raised: Odoo answered 500 and marked it failed';
    case 'not_selected':
      return `Odoo answered 500 and left the job enqueued: it did not select database '${outcome.db}'; check ${outcome.setting} (a multi-database Odoo answers 500 for a db= it does not serve or its dbfilter refuses; keep queue_job in server_wide_modules); the jobs go back to pending`;
    case 'running':
      return 'Odoo is running the job (no response head before DISPATCH_TIMEOUT_MS)';
    case 'unreachable':
      return `Odoo could not be reached (${outcome.error}); check ODOO_URL and that Odoo is up`;
    case 'lost':
      return `the connection to Odoo dropped before an answer (${outcome.error}); the job goes back to pending unless Odoo started it`;
    case 'unavailable':
      return `a proxy answered ${outcome.status}: Odoo is asleep or overloaded; jobs go back to pending`;
    case 'misconfigured':
      return outcome.status === 404
        ? `Odoo answered 404 for /queue_job/runjob: check ${outcome.setting} (and ODOO_DB), and that queue_job is installed and in server_wide_modules`
        : `Odoo answered ${outcome.status}: the basic-auth credentials are wrong or missing; check ${outcome.setting} and its password`;
    case 'unexpected':
      return `Odoo answered ${outcome.status}, which /queue_job/runjob never does: check ODOO_URL (a redirect or a login page?)`;
  }
}
