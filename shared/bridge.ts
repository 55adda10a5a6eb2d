/**
 * The bridge transport: a target's database reached through the companion Odoo addon
 * (`odoo/queue_job_runner_bridge`), for Odoo.sh and any database closed to the runner. Each `run` is one
 * POST to `/queue_job_runner_bridge/run`, which the addon executes as one short transaction, running
 * only catalogue statements named in the request. Every answer carries the addon's catalogue digest;
 * a runner and an addon that disagree stop with an error naming both releases. The window polls (every
 * BRIDGE_POLL_MS): Odoo.sh allows no long-lived connection and keeps each request to seconds.
 */
import type { Pool } from 'undici';
import { catalogueDigest } from './catalogue.ts';
import { undici } from './lazy.ts';
import { type Call, Poller, type Row, type RunOptions, type Transport, type Waker } from './transport.ts';
import { VERSION } from './version.ts';

/** The settings a bridge error points at, as this target spells them. */
export interface BridgeSettingNames {
  token: string;
  url: string;
  db: string;
}

export interface BridgeEndpoint {
  /** Odoo's base URL (may carry a path prefix). */
  url: string;
  /** Sent as ?db= and X-Odoo-Database when known; null lets Odoo select its one database. */
  db: string | null;
  token: string;
}

/** Seconds a bridge request may take: the addon's statement timeout (15 s) plus the way there and back. */
const REQUEST_TIMEOUT_MS = 20_000;
/** The addon refuses larger bodies; the runner never sends one (a pass is a few KiB). */
export const MAX_REQUEST_BYTES = 256 * 1024;

/** A bridge failure; `code` carries PostgreSQL's SQLSTATE for a busy answer, so it reads as a lock timeout. */
export class BridgeError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code?: string) {
    super(message);
    this.name = 'BridgeError';
    this.code = code;
  }
}

interface Answer {
  version?: string;
  catalogue?: string;
  db?: string;
  results?: { rows?: Row[] }[];
  error?: string;
  code?: string;
  message?: string;
  name?: string;
  detail?: string;
}

export class BridgeTransport implements Transport {
  readonly description: string;
  private readonly pool: Pool;
  private readonly path: string;
  private readonly digest = catalogueDigest();
  private readonly endpoint: BridgeEndpoint;
  private readonly settings: BridgeSettingNames;
  private readonly pollMs: number;

  constructor(endpoint: BridgeEndpoint, settings: BridgeSettingNames, pollMs: number) {
    this.endpoint = endpoint;
    this.settings = settings;
    this.pollMs = pollMs;
    const url = new URL(endpoint.url);
    const query = endpoint.db === null ? '' : `?db=${encodeURIComponent(endpoint.db)}`;
    this.path = `${url.pathname.replace(/\/+$/, '')}/queue_job_runner_bridge/run${query}`;
    this.pool = new (undici().Pool)(url.origin, {
      connections: 4,
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS,
      connect: { timeout: 10_000 },
      keepAliveTimeout: 4000,
    });
    this.description = `bridge at ${url.origin}${url.pathname.replace(/\/+$/, '')}${endpoint.db ? ` (db ${endpoint.db})` : ''}`;
  }

  async run(calls: readonly Call[], options: RunOptions = {}): Promise<Row[][]> {
    const body = JSON.stringify({
      catalogue: this.digest,
      statements: calls.map(({ statement, values }) => ({ name: statement.name, values: values ?? [] })),
      rollback: options.rollback ?? false,
    });
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.endpoint.token}`,
      'content-type': 'application/json',
      'user-agent': `queue-job-runner/${VERSION}`,
    };
    if (this.endpoint.db !== null) headers['x-odoo-database'] = this.endpoint.db;
    let status: number;
    let answer: Answer;
    try {
      const response = await this.pool.request({ path: this.path, method: 'POST', headers, body });
      status = response.statusCode;
      const text = await response.body.text();
      answer = parseAnswer(text);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      throw new BridgeError(
        `the bridge at ${this.settings.url} could not be reached (${typeof code === 'string' ? code : 'network error'}); check ${this.settings.url} and that Odoo is up`,
      );
    }
    if (status === 200 && answer.catalogue === this.digest && Array.isArray(answer.results)) {
      // A multi-database Odoo may serve the addon from another database than the one named: its rows
      // would be another database's jobs.
      if (this.endpoint.db !== null && answer.db !== undefined && answer.db !== this.endpoint.db) {
        throw new BridgeError(
          `Odoo served the bridge from database "${answer.db}", not "${this.endpoint.db}": check ${this.settings.db} and Odoo's dbfilter`,
        );
      }
      return answer.results.map((result) => result.rows ?? []);
    }
    throw this.failure(status, answer);
  }

  /** One error an operator can act on, for an answer that is not a result. */
  private failure(status: number, answer: Answer): BridgeError {
    const { token, url, db } = this.settings;
    if (status === 200 || answer.error === 'catalogue_mismatch') {
      return new BridgeError(
        `the bridge addon (release ${answer.version ?? 'unknown'}, catalogue ${short(answer.catalogue)}) does not match ` +
          `this runner (release ${VERSION}, catalogue ${short(this.digest)}): install odoo/queue_job_runner_bridge from ` +
          `runner release ${VERSION} into that Odoo, then upgrade the module`,
      );
    }
    if (status === 401)
      return new BridgeError(
        `the bridge refused the token: check ${token} against the system parameter queue_job_runner_bridge.token_sha256 (its SHA-256 hex)`,
      );
    if (status === 404 && answer.error === 'database_not_selected')
      return new BridgeError(
        `Odoo selected no database for the bridge: check ${db} (it must name a database Odoo serves, and the` +
          ' addon must be server-wide on a multi-database Odoo: --load=base,web,queue_job,queue_job_runner_bridge)',
      );
    if (status === 404)
      return new BridgeError(
        `no bridge at ${url} (404): install the queue_job_runner_bridge addon in that database, and check ${url}` +
          ` and ${db} (a multi-database Odoo answers 404 for a database it does not select)`,
      );
    if (status === 503 && answer.error === 'busy')
      return new BridgeError(
        'the database is busy (lock timeout through the bridge)',
        answer.code ?? '55P03',
      );
    if (answer.error === 'database')
      return new BridgeError(
        `database error through the bridge: ${answer.message ?? 'unknown'}`,
        answer.code,
      );
    if (answer.error === 'unknown_statement')
      return new BridgeError(`the bridge addon does not know statement ${answer.name}: update the addon`);
    if (status === 502 || status === 503 || status === 504)
      return new BridgeError(
        `a proxy answered ${status} for the bridge: Odoo is asleep, restarting or overloaded`,
      );
    return new BridgeError(
      `the bridge answered ${status}${answer.error ? ` (${answer.error})` : ''}: check ${url} (a redirect or a login page?)`,
    );
  }

  waker(): Waker {
    return new Poller(this.pollMs);
  }

  async close(): Promise<void> {
    await this.pool.close().catch(() => {});
  }
}

function parseAnswer(text: string): Answer {
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' ? (value as Answer) : {};
  } catch {
    return {};
  }
}

function short(digest: string | undefined): string {
  return digest ? digest.slice(0, 12) : 'unknown';
}
