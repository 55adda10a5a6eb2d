// The Odoo stand-in: an HTTP server with `/queue_job/runjob` and `/web/health` that does to the database
// exactly what queue_job 17.0's controller does (RunJobController.runjob, Job.perform/store/postpone,
// enqueue_waiting), run by a pool of prefork-like workers that each hold their own connection named
// `odoo-<pid>`. Knobs make it slow, failing, asleep, crashing or password-protected; a recorder keeps
// every request and the peak number of jobs running per channel.
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import pg from 'pg';
import { testSession } from './odoo-session.ts';
import { seededRandom } from './random.ts';

export type Outcome = 'done' | 'failed' | 'retryable' | 'crash';
export type SleepMode = '502' | 'refuse';

/** What the knobs see of a job: the row as loaded, before this try (`retry` = tries so far). */
export interface StandinJob {
  db: string;
  id: number;
  uuid: string;
  name: string | null;
  /** Normalized complete name (`root`, `root.sub`). */
  channel: string;
  priority: number | null;
  retry: number;
  max_retries: number;
  /** For queue.job._test_job (what /queue_job/create_test_job makes): its `failure_rate` argument. */
  testFailureRate?: number;
}

/**
 * The queue_job series the stand-in plays (README "Versions"):
 * - 16.0, 17.0: no lock table; the controller takes the job `FOR UPDATE` (waits on a holder); `?db=`.
 * - 18.0: the `queue_job_lock` table (OCA/queue#716/#748): the controller inserts the job's lock row
 *   with `started` and holds it `FOR NO KEY UPDATE` while the job runs, and takes the job with
 *   `SKIP LOCKED` (#866/#873); `?db=`.
 * - 19.0: as 18.0, and the database is chosen by the `X-Odoo-Database` header (#924), not `?db=`.
 * `ir_module_module` says the series' queue_job version. A property of the installation, not a knob:
 * `configure(DEFAULT_KNOBS)` leaves it alone; `setSeries` changes it (and the databases' tables).
 */
export type OdooSeries = '16.0' | '17.0' | '18.0' | '19.0';

export const SERIES: readonly OdooSeries[] = ['16.0', '17.0', '18.0', '19.0'];

/** queue_job (and base) versions `ir_module_module` holds for each series. */
export const SERIES_VERSIONS: Record<OdooSeries, { queueJob: string; base: string }> = {
  '16.0': { queueJob: '16.0.2.6.8', base: '16.0.1.3' },
  '17.0': { queueJob: '17.0.1.0.5', base: '17.0.1.3' },
  '18.0': { queueJob: '18.0.2.2.0', base: '18.0.1.3' },
  '19.0': { queueJob: '19.0.1.0.0', base: '19.0.1.3' },
};

/** Whether the series' controller keeps a lock row per started job. */
export function hasLockTable(series: OdooSeries): boolean {
  return series === '18.0' || series === '19.0';
}

export interface OdooKnobs {
  /** Delay before a request is handled at all (network, proxy). */
  latencyMs: number;
  /** How long a job "runs" once `started` is committed. */
  durationMs: number | ((job: StandinJob) => number);
  /** Share of jobs raising a plain exception (→ failed, HTTP 500), from the seeded RNG. */
  failureRate: number;
  /** Share of jobs raising RetryableJobError (→ pending later, HTTP 200), from the seeded RNG. */
  retryableRate: number;
  /** Postpone delay of a RetryableJobError, in seconds (upstream: err.seconds, else 600; PG errors 5). */
  retryDelaySeconds: number;
  /** Deterministic outcome per job; overrides the rates. */
  outcome: ((job: StandinJob) => Outcome) | undefined;
  /** Basic auth required on runjob (a proxy in front of Odoo); undefined = none. */
  auth: { user: string; password: string } | undefined;
  /** While asleep ('502'), a `/web/health` request wakes the server after being answered (Odoo.sh). */
  wakeOnHealth: boolean;
}

export interface StartOdooOptions extends Partial<OdooKnobs> {
  /** Series played (default 17.0); its tables are prepared in every database at start. */
  series?: OdooSeries;
  /** The databases this Odoo serves: `db` parameter → PostgreSQL URL. */
  databases: Record<string, string>;
  /** Prefork HTTP workers, i.e. jobs that can run at once (default 32). */
  workers?: number;
  /** Seed of the RNG behind failureRate / retryableRate (default 1). */
  seed?: number;
  /** Port on 127.0.0.1 (default: a free one). */
  port?: number;
  /** Logins for /web/session/authenticate (default admin/admin), for /queue_job/create_test_job. */
  users?: Record<string, string>;
  /**
   * Odoo's `ODOO_PGAPPNAME`: the application_name of its connections, `{pid}` replaced by the worker's
   * pid (default `odoo-{pid}`, as Odoo). A property of the installation, like the series.
   */
  applicationName?: string;
}

export interface RecordedRequest {
  /** Arrival, ms since epoch. */
  at: number;
  method: string;
  path: string;
  /** `?db=` as sent; for runjob, replaced by the database the series selected. */
  db: string | null;
  /** The `X-Odoo-Database` header as sent (19.0 routes by it). */
  databaseHeader?: string;
  uuid: string | null;
  /** False when basic auth was required and missing or wrong. */
  authOk: boolean;
  /** Answered status; 0 when the socket was destroyed (crash, close); undefined while in flight. */
  status?: number;
  /** runjob only: whether an `enqueued` row was found and started. */
  taken?: boolean;
  outcome?: Outcome;
  /** The state the controller left the row in (`done`, `failed`, `pending`; `started` after a crash). */
  finalState?: string;
  workerPid?: number;
  channel?: string;
  endedAt?: number;
  /** Why the stand-in itself answered 500 (a database error), kept here rather than in the body. */
  error?: string;
}

export interface OdooCounts {
  requests: number;
  taken: number;
  notTaken: number;
  done: number;
  failed: number;
  postponed: number;
  crashed: number;
  /** Requests accepted and not answered yet. */
  inFlight: number;
}

export interface OdooStandin {
  /** Base URL, e.g. `http://127.0.0.1:40123` (what ODOO_URL / web.base.url should be). */
  readonly url: string;
  readonly port: number;
  readonly knobs: Readonly<OdooKnobs>;
  /** The series played (see OdooSeries). */
  readonly series: OdooSeries;
  /** Plays another series: prepares every database's tables and module version for it. */
  setSeries(series: OdooSeries): Promise<void>;
  readonly asleep: SleepMode | false;
  /** Every request, in arrival order. */
  readonly requests: readonly RecordedRequest[];
  /** Emits 'request', 'started', 'finished' (with the RecordedRequest) and 'change' on any update. */
  readonly events: EventEmitter;
  runjobUrl(db: string, uuid: string): string;
  configure(knobs: Partial<OdooKnobs>): void;
  /** '502': every request gets 502 as from a proxy; 'refuse': connections are refused. */
  sleep(mode: SleepMode): Promise<void>;
  wake(): Promise<void>;
  /** The next `n` jobs taken crash after `started` is committed. */
  crashNext(n?: number): void;
  /** Pids of the current (live) workers. */
  workerPids(): number[];
  /**
   * How many times the job was taken (moved to started). Jobs are (database, uuid): a cloned database
   * shares its uuids with the original, so give `db` to count one database's job only.
   */
  takenCount(uuid: string, db?: string): number;
  notTakenCount(): number;
  counts(): OdooCounts;
  /** Jobs running now in `channel`, sub-channels included (default root). */
  running(channel?: string): number;
  /** Highest `running(channel)` seen since start or `resetPeaks()`. */
  peakRunning(channel?: string): number;
  resetPeaks(): void;
  /** Resolves once `predicate()` holds, re-checked on every recorder change; rejects after timeoutMs. */
  waitFor(predicate: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** Resolves once `n` taken jobs have ended (done, failed, postponed or crashed). */
  waitForFinished(n: number, timeoutMs?: number): Promise<void>;
  /** Stops listening, lets in-flight jobs end (aborting them after graceMs), closes every connection. */
  close(options?: { graceMs?: number }): Promise<void>;
}

/** What every knob is when not set: an instant, healthy, open Odoo. */
export const DEFAULT_KNOBS: Readonly<OdooKnobs> = {
  latencyMs: 0,
  durationMs: 0,
  failureRate: 0,
  retryableRate: 0,
  retryDelaySeconds: 5,
  outcome: undefined,
  auth: undefined,
  wakeOnHealth: false,
};

const JOB_ERROR = 'odoo.addons.queue_job.exception.JobError';
const FAILED_JOB_ERROR = 'odoo.addons.queue_job.exception.FailedJobError';
const RETRY_MESSAGE = 'Must be retried later';
const FAILURE_MESSAGE = 'Job failed';
const HTML = 'text/html; charset=utf-8';
const ERROR_500 =
  '<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>\n' +
  '<p>The server encountered an internal error and was unable to complete your request. Either the server is ' +
  'overloaded or there is an error in the application.</p>\n';

// The controller's statements. Named, so each worker connection prepares them once.
const SQL = {
  // Controller steps 1-2 inside BEGIN ... COMMIT: SELECT ... FOR UPDATE (waits on a concurrent holder,
  // re-checks state = 'enqueued' once granted) and set_started + store, fused into one statement.
  // No row back = not enqueued = not taken. A worker that dies meanwhile never commits: nothing changes.
  takeEnqueued: {
    name: 'standin_take_enqueued',
    text: `UPDATE queue_job
           SET state = 'started', date_started = clock_timestamp() AT TIME ZONE 'utc', worker_pid = $2
           WHERE id IN (SELECT id FROM queue_job WHERE uuid = $1 AND state = 'enqueued' FOR UPDATE)
           RETURNING id, uuid, name, channel, priority, retry, max_retries, dependencies, method_name, kwargs`,
  },
  // 18.0+ (#866/#873): the job is taken with SKIP LOCKED, so a duplicate request returns at once.
  takeEnqueuedSkipLocked: {
    name: 'standin_take_enqueued_skip_locked',
    text: `UPDATE queue_job
           SET state = 'started', date_started = clock_timestamp() AT TIME ZONE 'utc', worker_pid = $2
           WHERE id IN (SELECT id FROM queue_job WHERE uuid = $1 AND state = 'enqueued'
             FOR NO KEY UPDATE SKIP LOCKED)
           RETURNING id, uuid, name, channel, priority, retry, max_retries, dependencies, method_name, kwargs`,
  },
  // 18.0+ set_started also inserts the job's lock row (id = queue_job_id = the job's id).
  insertLock: {
    name: 'standin_insert_lock',
    text: `INSERT INTO queue_job_lock (id, queue_job_id, create_uid, create_date, write_uid, write_date)
           VALUES ($1, $1, 1, now() AT TIME ZONE 'utc', 1, now() AT TIME ZONE 'utc') ON CONFLICT (id) DO NOTHING`,
  },
  // 18.0+ lock(): held for the whole job; a dead worker's connection drops and frees it.
  holdLock: {
    name: 'standin_hold_lock',
    text: `SELECT l.id FROM queue_job_lock l JOIN queue_job j ON j.id = l.queue_job_id
           WHERE l.queue_job_id = $1 AND j.state = 'started' FOR NO KEY UPDATE OF l SKIP LOCKED`,
  },
  // set_done + store: exec_time = date_done - date_started; result is str(return value) or NULL.
  setDone: {
    name: 'standin_set_done',
    text: `UPDATE queue_job SET state = 'done', retry = $2, result = $3, exc_name = NULL, exc_info = NULL,
             date_done = t.now, exec_time = EXTRACT(EPOCH FROM t.now - date_started)
           FROM (SELECT clock_timestamp() AT TIME ZONE 'utc' AS now) t
           WHERE id = $1`,
  },
  // set_failed + store (new cursor): exc_* filled; dates, worker_pid and result stay as they were.
  setFailed: {
    name: 'standin_set_failed',
    text: `UPDATE queue_job SET state = 'failed', retry = $2, exc_name = $3, exc_message = $4, exc_info = $5
           WHERE id = $1`,
  },
  // postpone + set_pending(reset_retry=False) + store (new cursor): retry kept, later eta, dates cleared.
  postpone: {
    name: 'standin_postpone',
    text: `UPDATE queue_job SET state = 'pending', retry = $2, result = $3,
             eta = (clock_timestamp() AT TIME ZONE 'utc') + make_interval(secs => $4::float8),
             exc_name = NULL, exc_info = NULL, exec_time = NULL, worker_pid = NULL,
             date_enqueued = NULL, date_started = NULL, date_done = NULL, date_cancelled = NULL
           WHERE id = $1`,
  },
  // Job.enqueue_waiting (17.0, verbatim): children of this job whose parents are ALL done go pending.
  enqueueWaiting: {
    name: 'standin_enqueue_waiting',
    text: `UPDATE queue_job
           SET state = $1
           FROM (
             SELECT child.id, array_agg(parent.state) AS parent_states
             FROM queue_job job
             JOIN LATERAL json_array_elements_text(job.dependencies::json->'reverse_depends_on') child_deps ON true
             JOIN queue_job child ON child.graph_uuid = job.graph_uuid AND child.uuid = child_deps
             JOIN LATERAL json_array_elements_text(child.dependencies::json->'depends_on') parent_deps ON true
             JOIN queue_job parent ON parent.graph_uuid = job.graph_uuid AND parent.uuid = parent_deps
             WHERE job.uuid = $2
             GROUP BY child.id
           ) jobs
           WHERE queue_job.id = jobs.id AND $3 = ALL(jobs.parent_states) AND state = $4`,
  },
} as const;

interface JobRow {
  id: number;
  uuid: string;
  name: string | null;
  channel: string | null;
  priority: number | null;
  retry: number | null;
  max_retries: number | null;
  dependencies: string | null;
  method_name: string | null;
  kwargs: string | null;
}

/** One prefork worker: a pid, and (like Odoo's connection pool) one connection per database it served. */
interface Worker {
  pid: number;
  clients: Map<string, pg.Client>;
}

// Unique across stand-ins of one process, and unlikely to meet another test process's range.
let nextPid = 100_000 + (process.pid % 4000) * 1000;

/** `root`, `root.a`, `root.a.b` for a job in `a.b` / `root.a.b`; '' and NULL are root. */
export function channelPath(channel: string | null | undefined): string[] {
  const name = normalizeChannel(channel);
  const parts = name.split('.');
  return parts.map((_, i) => parts.slice(0, i + 1).join('.'));
}

export function normalizeChannel(channel: string | null | undefined): string {
  if (!channel || channel === 'root') return 'root';
  return channel.startsWith('root.') ? channel : `root.${channel}`;
}

/** The failure_rate a `_test_job` was delayed with, from its kwargs JSON. */
function testFailureRate(row: JobRow): { testFailureRate?: number } {
  if (row.method_name !== '_test_job' || !row.kwargs) return {};
  try {
    const rate = (JSON.parse(row.kwargs) as { failure_rate?: unknown }).failure_rate;
    return typeof rate === 'number' ? { testFailureRate: rate } : {};
  } catch {
    return {};
  }
}

export async function startOdoo(options: StartOdooOptions): Promise<OdooStandin> {
  const knobs: OdooKnobs = { ...DEFAULT_KNOBS };
  applyKnobs(knobs, options);
  const databases = new Map(Object.entries(options.databases));
  const applicationName = options.applicationName ?? 'odoo-{pid}';
  let series: OdooSeries = options.series ?? '17.0';
  await prepareSeries(databases, series);
  const random = seededRandom(options.seed ?? 1);
  const events = new EventEmitter();
  events.setMaxListeners(0);

  // Recorder state.
  const requests: RecordedRequest[] = [];
  /** database → uuid → times taken. */
  const taken = new Map<string, Map<string, number>>();
  const runningByChannel = new Map<string, number>();
  const peakByChannel = new Map<string, number>();
  const counts = { taken: 0, notTaken: 0, done: 0, failed: 0, postponed: 0, crashed: 0, inFlight: 0 };
  const changed = (event: string, record?: RecordedRequest) => {
    if (record) events.emit(event, record);
    events.emit('change');
  };

  // Worker pool: a request waits for a free worker, as in Odoo's accept backlog.
  const allWorkers = new Set<Worker>();
  const idle: Worker[] = [];
  const waiters: Array<(worker: Worker | undefined) => void> = [];
  const spawnWorker = (): Worker => {
    const worker: Worker = { pid: nextPid++, clients: new Map() };
    allWorkers.add(worker);
    return worker;
  };
  for (let i = 0; i < (options.workers ?? 32); i++) idle.push(spawnWorker());
  const session = testSession(databases, options.users ?? { admin: 'admin' });
  const acquire = (): Promise<Worker | undefined> => {
    const worker = idle.pop();
    if (worker) return Promise.resolve(worker);
    return new Promise((resolve) => waiters.push(resolve));
  };
  const release = (worker: Worker) => {
    const waiter = waiters.shift();
    if (waiter) waiter(worker);
    else idle.push(worker);
  };
  let crashesPending = 0;

  const connection = async (worker: Worker, db: string): Promise<pg.Client> => {
    const existing = worker.clients.get(db);
    if (existing) return existing;
    // Like Odoo, a worker connects to a database only when it serves a request for it (never for
    // /web/health), and keeps that connection for its next requests.
    const client = new pg.Client({
      connectionString: databases.get(db),
      application_name: applicationName.replace('{pid}', String(worker.pid)),
    });
    // A dropped connection must not crash the process; the worker reconnects on its next request.
    const forget = () => {
      if (worker.clients.get(db) === client) worker.clients.delete(db);
    };
    client.on('error', forget);
    client.on('end', forget);
    worker.clients.set(db, client);
    try {
      await client.connect();
    } catch (error) {
      worker.clients.delete(db);
      throw error;
    }
    return client;
  };

  // The process dies: connections cut without a rollback or goodbye, a new worker with a new pid replaces it.
  const crash = (worker: Worker) => {
    allWorkers.delete(worker);
    for (const client of worker.clients.values()) client.connection.stream.destroy();
    worker.clients.clear();
    release(spawnWorker());
  };

  const markRunning = (channel: string, delta: number) => {
    for (const name of channelPath(channel)) {
      const now = (runningByChannel.get(name) ?? 0) + delta;
      runningByChannel.set(name, now);
      if (now > (peakByChannel.get(name) ?? 0)) peakByChannel.set(name, now);
    }
  };

  const decide = (job: StandinJob): Outcome => {
    if (crashesPending > 0) {
      crashesPending--;
      return 'crash';
    }
    if (knobs.outcome) return knobs.outcome(job);
    // queue.job._test_job raises JobError when random.random() <= failure_rate.
    if (job.testFailureRate !== undefined && job.testFailureRate > 0) {
      return random() <= job.testFailureRate ? 'failed' : 'done';
    }
    const draw = random();
    if (draw < knobs.failureRate) return 'failed';
    if (draw < knobs.failureRate + knobs.retryableRate) return 'retryable';
    return 'done';
  };

  // Closing aborts job "runs" still going after the grace period.
  const abort = new AbortController();
  let closing = false;
  let asleep: SleepMode | false = false;

  const finish = (record: RecordedRequest, res: ServerResponse, status: number, body = '', type = HTML) => {
    if (!res.headersSent && !res.destroyed) {
      res.statusCode = status;
      res.setHeader('Content-Type', type);
      res.setHeader('Content-Length', Buffer.byteLength(body));
      // While asleep or closing, keep-alive connections must not outlive this answer.
      if (asleep || closing) res.setHeader('Connection', 'close');
      res.end(body);
    }
    record.status = status;
    record.endedAt = Date.now();
    changed('finished', record);
  };
  const destroy = (record: RecordedRequest, res: ServerResponse) => {
    res.socket?.destroy();
    res.destroy();
    record.status = 0;
    record.endedAt = Date.now();
    changed('finished', record);
  };

  // The controller proper, on one worker. Returns false when the worker died (crash).
  const runjob = async (
    worker: Worker,
    db: string,
    uuid: string,
    record: RecordedRequest,
    res: ServerResponse,
  ): Promise<boolean> => {
    const client = await connection(worker, db);
    const locking = hasLockTable(series);
    let row: JobRow | undefined;
    await client.query('BEGIN');
    try {
      const take = locking ? SQL.takeEnqueuedSkipLocked : SQL.takeEnqueued;
      row = (await client.query<JobRow>({ ...take, values: [uuid, worker.pid] })).rows[0];
      if (row && locking) await client.query({ ...SQL.insertLock, values: [row.id] });
      // `started` is committed before the job runs, so everyone sees who runs it.
      await client.query(row ? 'COMMIT' : 'ROLLBACK');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
    // 18.0+: the job runs in a transaction holding its lock row; it ends with the job's final write.
    let holding = false;
    if (row && locking) {
      await client.query('BEGIN');
      holding = (await client.query({ ...SQL.holdLock, values: [row.id] })).rows.length > 0;
      if (!holding) {
        await client.query('ROLLBACK');
        record.taken = false;
        counts.notTaken++;
        finish(record, res, 200);
        return true;
      }
    }
    const release_ = async () => {
      if (holding) {
        holding = false;
        await client.query('COMMIT');
      }
    };
    if (!row) {
      // Not there or not enqueued: Odoo logs a warning and answers 200 with an empty body.
      record.taken = false;
      counts.notTaken++;
      finish(record, res, 200);
      return true;
    }

    const job: StandinJob = {
      db,
      id: row.id,
      uuid: row.uuid,
      name: row.name,
      channel: normalizeChannel(row.channel),
      priority: row.priority,
      retry: row.retry ?? 0,
      max_retries: row.max_retries ?? 0,
      ...testFailureRate(row),
    };
    record.taken = true;
    record.channel = job.channel;
    counts.taken++;
    const takenHere = taken.get(db) ?? new Map<string, number>();
    takenHere.set(uuid, (takenHere.get(uuid) ?? 0) + 1);
    taken.set(db, takenHere);
    markRunning(job.channel, +1);
    // Running ends when the row leaves `started` (or the worker dies), before the answer goes out.
    let running = true;
    const stopRunning = () => {
      if (running) markRunning(job.channel, -1);
      running = false;
    };
    changed('started', record);
    try {
      const outcome = decide(job);
      record.outcome = outcome;
      const duration = typeof knobs.durationMs === 'function' ? knobs.durationMs(job) : knobs.durationMs;
      await delay(duration, abort.signal);

      if (outcome === 'crash') {
        crash(worker);
        stopRunning();
        counts.crashed++;
        record.finalState = 'started';
        destroy(record, res);
        return false;
      }
      // Job.perform(): the try counter goes up before the method is called.
      const retry = job.retry + 1;
      if (outcome === 'done') {
        await client.query({ ...SQL.setDone, values: [job.id, retry, null] });
        // enqueue_waiting is a no-op without children; skip its query then (hot path of benchmarks).
        if (hasChildren(row.dependencies)) {
          await client.query({
            ...SQL.enqueueWaiting,
            values: ['pending', uuid, 'done', 'wait_dependencies'],
          });
        }
        await release_();
        stopRunning();
        counts.done++;
        record.finalState = 'done';
        finish(record, res, 200);
      } else if (outcome === 'retryable' && (job.max_retries === 0 || retry < job.max_retries)) {
        // max_retries 0 = infinite; otherwise postponed until the retry count reaches max_retries.
        await client.query({
          ...SQL.postpone,
          values: [job.id, retry, RETRY_MESSAGE, knobs.retryDelaySeconds],
        });
        await release_();
        stopRunning();
        counts.postponed++;
        record.finalState = 'pending';
        finish(record, res, 200);
      } else {
        const failure =
          outcome === 'retryable'
            ? {
                name: FAILED_JOB_ERROR,
                message: `Max. retries (${job.max_retries}) reached: ${RETRY_MESSAGE}`,
              }
            : { name: JOB_ERROR, message: FAILURE_MESSAGE };
        await client.query({
          ...SQL.setFailed,
          values: [job.id, retry, failure.name, failure.message, traceback(failure.name, failure.message)],
        });
        await release_();
        stopRunning();
        counts.failed++;
        record.finalState = 'failed';
        // The exception is re-raised: Odoo answers with its HTML error page.
        finish(record, res, 500, ERROR_500);
      }
      return true;
    } finally {
      // A job cut short (the stand-in closing) must not leave its worker's connection in a transaction.
      if (holding) await client.query('ROLLBACK').catch(() => {});
      stopRunning();
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://standin');
    const record: RecordedRequest = {
      at: Date.now(),
      method: req.method ?? 'GET',
      path: url.pathname,
      db: url.searchParams.get('db'),
      uuid: url.searchParams.get('job_uuid'),
      authOk: true,
      ...(typeof req.headers['x-odoo-database'] === 'string'
        ? { databaseHeader: req.headers['x-odoo-database'] }
        : {}),
    };
    if (asleep === 'refuse') {
      // A keep-alive connection from before the sleep: the server is gone, so is the connection.
      req.socket.destroy();
      return;
    }
    requests.push(record);
    counts.inFlight++;
    changed('request', record);
    try {
      if (closing) {
        finish(record, res, 503, '<h1>503 Service Unavailable</h1>\n');
        return;
      }
      if (asleep === '502') {
        finish(record, res, 502, '<html><body><h1>502 Bad Gateway</h1></body></html>\n');
        if (record.path === '/web/health' && knobs.wakeOnHealth) await wake();
        return;
      }
      await delay(knobs.latencyMs, abort.signal);
      if (record.path === '/web/health') {
        finish(record, res, 200, '{"status": "pass"}', 'application/json');
        return;
      }
      if (record.path === '/web/session/authenticate' || record.path === '/queue_job/create_test_job') {
        const answer = await session.handle(req, url);
        res.setHeader('Content-Type', answer.type);
        for (const [name, value] of Object.entries(answer.headers ?? {})) res.setHeader(name, value);
        finish(record, res, answer.status, answer.body, answer.type);
        return;
      }
      if (record.path !== '/queue_job/runjob') {
        finish(record, res, 404, '<h1>404 Not Found</h1>\n');
        return;
      }
      // Basic auth is a proxy's, in front of Odoo: checked first.
      if (knobs.auth && !authorized(req.headers.authorization, knobs.auth)) {
        record.authOk = false;
        res.setHeader('WWW-Authenticate', 'Basic realm="odoo"');
        finish(record, res, 401, '<h1>401 Authorization Required</h1>\n');
        return;
      }
      if (record.method === 'POST') {
        // type="http" routes check CSRF on POST; the runner must use GET.
        finish(record, res, 400, '<h1>400 Bad Request</h1>\n<p>Session expired (invalid CSRF token)</p>\n');
        return;
      }
      const selected = selectDatabase(series, record.db, req.headers['x-odoo-database'], databases);
      if (selected === null) {
        // A multi-database Odoo that does not select a database has no registry for the request:
        // the controller raises and Odoo answers its 500 page; the row stays `enqueued`.
        record.error = `no database selected (${series}: db=${record.db ?? ''})`;
        finish(record, res, 500, ERROR_500);
        return;
      }
      record.db = selected;
      if (!record.uuid) {
        finish(record, res, 400, '<h1>400 Bad Request</h1>\n');
        return;
      }
      const worker = await acquire();
      if (!worker) {
        finish(record, res, 503, '<h1>503 Service Unavailable</h1>\n');
        return;
      }
      record.workerPid = worker.pid;
      let alive = true;
      try {
        alive = await runjob(worker, record.db, record.uuid, record, res);
      } finally {
        if (alive) release(worker);
      }
    } catch (error) {
      record.error = String(error);
      if (abort.signal.aborted) destroy(record, res);
      else finish(record, res, 500, ERROR_500);
    } finally {
      counts.inFlight--;
      changed('change');
    }
  };

  // Servers: a new one each time we (re)listen, so 'refuse' really frees the port and wake() takes it back.
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = options.port ?? 0;
  const listen = async () => {
    const next = createServer((req, res) => {
      void handle(req, res);
    });
    next.keepAliveTimeout = 5_000;
    next.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      next.once('error', reject);
      next.listen(port, '127.0.0.1', () => {
        next.off('error', reject);
        resolve();
      });
    });
    const address = next.address();
    if (typeof address === 'object' && address) port = address.port;
    server = next;
  };
  // close() also drops idle keep-alive connections (Node >= 19); busy ones end with their answer.
  const unlisten = () => {
    server?.close();
    server = undefined;
  };
  const wake = async () => {
    if (asleep === 'refuse' && !closing) await listen();
    asleep = false;
    changed('change');
  };
  await listen();
  const base = `http://127.0.0.1:${port}`;

  const waitFor = (predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = () => {
        let ok = false;
        try {
          ok = predicate();
        } catch (error) {
          done();
          reject(error);
          return;
        }
        if (ok) {
          done();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(`Odoo stand-in: ${what} not reached within ${timeoutMs} ms (${JSON.stringify(counts)})`),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        events.off('change', check);
      };
      events.on('change', check);
      check();
    });

  return {
    url: base,
    get port() {
      return port;
    },
    get knobs() {
      return knobs;
    },
    get series() {
      return series;
    },
    setSeries: async (next) => {
      await prepareSeries(databases, next);
      series = next;
    },
    get asleep() {
      return asleep;
    },
    requests,
    events,
    runjobUrl: (db, uuid) =>
      `${base}/queue_job/runjob?db=${encodeURIComponent(db)}&job_uuid=${encodeURIComponent(uuid)}`,
    configure: (next) => applyKnobs(knobs, next),
    sleep: async (mode) => {
      asleep = mode;
      if (mode === 'refuse') unlisten();
      changed('change');
    },
    wake,
    crashNext: (n = 1) => {
      crashesPending += n;
    },
    workerPids: () => [...allWorkers].map((worker) => worker.pid),
    takenCount: (uuid, db) =>
      db === undefined
        ? [...taken.values()].reduce((n, byUuid) => n + (byUuid.get(uuid) ?? 0), 0)
        : (taken.get(db)?.get(uuid) ?? 0),
    notTakenCount: () => counts.notTaken,
    counts: () => ({ requests: requests.length, ...counts }),
    running: (channel = 'root') => runningByChannel.get(normalizeChannel(channel)) ?? 0,
    peakRunning: (channel = 'root') => peakByChannel.get(normalizeChannel(channel)) ?? 0,
    resetPeaks: () => {
      peakByChannel.clear();
      for (const [name, n] of runningByChannel) peakByChannel.set(name, n);
    },
    waitFor,
    waitForFinished: (n, timeoutMs = 10_000) =>
      waitFor(
        () => counts.done + counts.failed + counts.postponed + counts.crashed >= n,
        timeoutMs,
        `${n} finished jobs`,
      ),
    close: async ({ graceMs = 5_000 } = {}) => {
      if (closing) return;
      closing = true;
      unlisten();
      for (const waiter of waiters.splice(0)) waiter(undefined);
      const drain = (ms: number, what: string) =>
        waitFor(() => counts.inFlight === 0, ms, what).then(
          () => true,
          () => false,
        );
      let drained = await drain(graceMs, 'no request in flight');
      if (!drained) {
        abort.abort();
        drained = await drain(2_000, 'aborted requests to end');
      }
      for (const socket of sockets) socket.destroy();
      const clients = [...allWorkers].flatMap((worker) => [...worker.clients.values()]);
      allWorkers.clear();
      // A worker still inside a query (e.g. waiting on a row lock) would never see a polite goodbye.
      if (drained) await Promise.all(clients.map((client) => client.end().catch(() => {})));
      else for (const client of clients) client.connection.stream.destroy();
      await session.close();
    },
  };
}

/**
 * Makes each database look like the series installed it: queue_job's module version in
 * ir_module_module, and the lock table present (18.0+, with Odoo's columns) or absent (16.0, 17.0).
 */
async function prepareSeries(databases: ReadonlyMap<string, string>, series: OdooSeries): Promise<void> {
  for (const url of databases.values()) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const versions = SERIES_VERSIONS[series];
      await client.query(
        `UPDATE ir_module_module SET latest_version = CASE name WHEN 'queue_job' THEN $1 ELSE $2 END
         WHERE name IN ('queue_job', 'base')`,
        [versions.queueJob, versions.base],
      );
      if (hasLockTable(series)) {
        await client.query(`CREATE TABLE IF NOT EXISTS queue_job_lock (
          id serial PRIMARY KEY,
          queue_job_id integer NOT NULL REFERENCES queue_job(id) ON DELETE CASCADE,
          create_uid integer, create_date timestamp without time zone,
          write_uid integer, write_date timestamp without time zone)`);
        await client.query(
          'CREATE INDEX IF NOT EXISTS queue_job_lock__queue_job_id_index ON queue_job_lock (queue_job_id)',
        );
      } else {
        await client.query('DROP TABLE IF EXISTS queue_job_lock');
      }
    } finally {
      await client.end();
    }
  }
}

/**
 * The database a runjob request runs in, as the series routes it; null = none selected. Up to 18.0,
 * `?db=` names it (a name the server does not serve selects nothing). 19.0 reads `X-Odoo-Database`
 * and ignores `?db=`; without the header, a server with one database uses it, others select nothing.
 */
export function selectDatabase(
  series: OdooSeries,
  dbParameter: string | null,
  header: string | string[] | undefined,
  databases: ReadonlyMap<string, string>,
): string | null {
  if (series === '19.0') {
    const named = Array.isArray(header) ? header[0] : header;
    if (named !== undefined && named !== '') return databases.has(named) ? named : null;
    return databases.size === 1 ? [...databases.keys()][0]! : null;
  }
  return dbParameter && databases.has(dbParameter) ? dbParameter : null;
}

function applyKnobs(knobs: OdooKnobs, next: Partial<OdooKnobs>): void {
  for (const key of Object.keys(DEFAULT_KNOBS) as Array<keyof OdooKnobs>) {
    if (key in next) Object.assign(knobs, { [key]: next[key] });
  }
}

function authorized(header: string | undefined, auth: { user: string; password: string }): boolean {
  if (!header?.startsWith('Basic ')) return false;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  return decoded === `${auth.user}:${auth.password}`;
}

function hasChildren(dependencies: string | null): boolean {
  if (!dependencies) return false;
  try {
    const parsed = JSON.parse(dependencies) as { reverse_depends_on?: unknown[] };
    return (parsed.reverse_depends_on?.length ?? 0) > 0;
  } catch {
    // Unparsable JSON: let Odoo's own query decide, as Odoo would.
    return true;
  }
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function traceback(excName: string, message: string): string {
  const exceptionClass = excName.split('.').pop();
  return [
    'Traceback (most recent call last):',
    '  File "/odoo/addons/queue_job/controllers/main.py", line 111, in runjob',
    '    self._try_perform_job(env, job)',
    '  File "/odoo/addons/queue_job/controllers/main.py", line 35, in _try_perform_job',
    '    job.perform()',
    '  File "/odoo/addons/queue_job/job.py", line 533, in perform',
    '    self.result = self.func(*tuple(self.args), **self.kwargs)',
    '  File "/odoo/addons/queue_job/models/queue_job.py", line 430, in _test_job',
    `    raise ${exceptionClass}(${JSON.stringify(message)})`,
    `${excName}: ${message}`,
    '',
  ].join('\n');
}
