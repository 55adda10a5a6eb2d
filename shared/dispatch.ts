/**
 * Sending claimed jobs to Odoo: GET {odoo}/queue_job/runjob?db=…&job_uuid=… through a bounded undici
 * pool. Odoo runs the job inside that request, so we wait only for the response head or the dispatch
 * timeout, then let go (undici closes the socket; the job goes on in Odoo).
 */
import type { Pool } from 'undici';
import type { ClaimedJob } from './claim.ts';
import type { HttpAuth } from './config.ts';
import { undici } from './lazy.ts';
import { PROBE_UUID } from './liveness.ts';
import {
  classifyError,
  classifyStatus,
  mustRevert,
  notSelected,
  type Outcome,
  type SettingNames,
  stopsTarget,
} from './outcome.ts';
import * as sql from './sql.ts';
import { query, type Transport } from './transport.ts';

export interface OdooEndpoint {
  /** Base URL, may carry a path prefix (https://host/prefix). */
  url: string;
  db: string;
  auth: HttpAuth | null;
}

export interface DispatcherOptions {
  timeoutMs: number;
  /** Upper bound on simultaneous requests to one Odoo. */
  connections?: number;
  settings: SettingNames;
}

export class Dispatcher {
  readonly endpoint: OdooEndpoint;
  private readonly pool: Pool;
  private readonly prefix: string;
  private readonly headers: Record<string, string>;
  readonly options: DispatcherOptions;

  constructor(endpoint: OdooEndpoint, options: DispatcherOptions) {
    this.endpoint = endpoint;
    this.options = options;
    const url = new URL(endpoint.url);
    this.prefix = url.pathname.replace(/\/+$/, '');
    this.pool = new (undici().Pool)(url.origin, {
      connections: options.connections ?? 64,
      // The head timeout starts once the request is written: a timeout here means Odoo has the job.
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connect: { timeout: Math.max(options.timeoutMs, 3000) },
      keepAliveTimeout: 4000,
    });
    // 19.0 routes /queue_job/runjob by this header (OCA/queue#924 dropped the ?db= patch); earlier
    // series ignore it and read ?db=, so both are always sent.
    this.headers = { 'user-agent': 'queue-job-runner', 'x-odoo-database': endpoint.db };
    if (endpoint.auth) {
      const token = Buffer.from(`${endpoint.auth.user}:${endpoint.auth.password}`).toString('base64');
      this.headers.authorization = `Basic ${token}`;
    }
  }

  /** Sends one job; always settles with an outcome, never throws. */
  async send(uuid: string): Promise<Outcome> {
    const path = `${this.prefix}/queue_job/runjob?db=${encodeURIComponent(this.endpoint.db)}&job_uuid=${encodeURIComponent(uuid)}`;
    try {
      const response = await this.pool.request({ path, method: 'GET', headers: this.headers });
      // The body is ignored (empty on 200, an HTML page on 500); drain it so the socket can be reused.
      await response.body.dump({ limit: 64 * 1024 }).catch(() => {});
      return classifyStatus(response.statusCode, this.options.settings);
    } catch (error) {
      return classifyError(error);
    }
  }

  /**
   * Makes Odoo open a connection to the database: a runjob request for a job that cannot exist, which
   * Odoo answers 200 after its controller's SELECT, changing nothing (`liveness.ts`). `/web/health`
   * would not do: it never opens a database.
   */
  probe(): Promise<Outcome> {
    return this.send(PROBE_UUID);
  }

  /** A cheap GET that wakes a sleeping Odoo (Odoo.sh starts workers on traffic); result ignored. */
  async wake(): Promise<void> {
    try {
      const response = await this.pool.request({
        path: `${this.prefix}/web/health`,
        method: 'GET',
        headers: this.headers,
      });
      await response.body.dump().catch(() => {});
    } catch {
      // Waking is best effort; the next pass finds out whether it worked.
    }
  }

  async close(): Promise<void> {
    await this.pool.close().catch(() => {});
  }
}

/** What became of a batch of claimed jobs. */
export interface DispatchReport {
  results: { job: ClaimedJob; outcome: Outcome | null }[];
  /** Jobs put back to pending by the guarded revert (never sent, or sent and refused). */
  reverted: string[];
  /** The first outcome that made the target unhealthy, if any. */
  stoppedBy: Outcome | null;
}

/**
 * Sends claimed jobs with at most `concurrency` requests in flight, in claim order. Every send is
 * settled before this resolves (Cloud Run stops the CPU once the response is out). After the first
 * outcome that says the target is unhealthy, no further job is sent; those jobs and every job that
 * must be reverted go back to pending in one guarded UPDATE.
 *
 * A 500 is followed at once by the guarded revert of that job: a no-op when Odoo ran it and wrote
 * `failed`; when it moves the row, Odoo never took the job (it did not select the database), the
 * outcome becomes `not_selected` and the target is stopped for the pass.
 */
export async function dispatchClaimed(
  dispatcher: Dispatcher,
  transport: Transport,
  jobs: readonly ClaimedJob[],
  concurrency = 64,
): Promise<DispatchReport> {
  const results: DispatchReport['results'] = jobs.map((job) => ({ job, outcome: null }));
  // Bounded like a pass: if the rows stay locked or the database is gone, the sweep returns them
  // after ENQUEUED_TIMEOUT_SECONDS instead (invariant 4), and the caller hears of it.
  const revert = async (ids: number[]): Promise<string[]> => {
    const rows = await query<{ uuid: string }>(transport, sql.revert, [ids]);
    return rows.map((row) => row.uuid);
  };
  const reverted: string[] = [];
  const settled = new Set<number>();
  let stoppedBy: Outcome | null = null;
  let next = 0;
  const worker = async () => {
    while (stoppedBy === null && next < results.length) {
      const entry = results[next++]!;
      entry.outcome = await dispatcher.send(entry.job.uuid);
      if (entry.outcome.kind === 'failed') {
        settled.add(entry.job.id);
        const moved = await revert([entry.job.id]);
        if (moved.length > 0) {
          reverted.push(...moved);
          entry.outcome = notSelected(
            entry.outcome.status,
            dispatcher.endpoint.db,
            dispatcher.options.settings,
          );
        }
      }
      if (stopsTarget(entry.outcome) && stoppedBy === null) stoppedBy = entry.outcome;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, results.length) }, worker));

  const back = results
    .filter((r) => !settled.has(r.job.id) && (r.outcome === null || mustRevert(r.outcome)))
    .map((r) => r.job.id);
  if (back.length > 0) reverted.push(...(await revert(back)));
  return { results, reverted, stoppedBy };
}
