// Creates queue_job rows exactly as Odoo's `with_delay()` / `delayable().delay()` stores them
// (queue_job 17.0 Job._store_values), and reads them back with timestamps as true UTC instants.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';

export type JobState =
  | 'wait_dependencies'
  | 'pending'
  | 'enqueued'
  | 'started'
  | 'done'
  | 'cancelled'
  | 'failed';

/** Anything that runs a query: a Pool, a Client, a PoolClient. */
export type Queryable = Pick<pg.Pool, 'query'>;

export interface JobOptions {
  uuid?: string;
  /** Default: `pending`, or `wait_dependencies` when a `dependsOn` parent is not done. */
  state?: JobState;
  /** Lower runs first (default 10, Odoo's DEFAULT_PRIORITY). */
  priority?: number;
  /** Complete channel name (default `root`). */
  channel?: string;
  /** "Do not run before": a Date, or seconds from now (as `with_delay(eta=60)`). Stored naive UTC. */
  eta?: Date | number | null;
  retry?: number;
  /** Default 5; 0 means infinite retries. */
  maxRetries?: number;
  /** Default `queue.job` / `_test_job`, the job upstream's `/queue_job/create_test_job` makes. */
  modelName?: string;
  methodName?: string;
  recordIds?: number[];
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  /** Description; default `<model>.<method>` as Odoo for a method without docstring. */
  name?: string;
  identityKey?: string | null;
  /** Parent uuids: the job waits for them, and they get this job in `reverse_depends_on`. */
  dependsOn?: string[];
  graphUuid?: string | null;
  userId?: number;
  companyId?: number;
  /** Default now (naive UTC, microseconds, like `datetime.now()` on an Odoo running with TZ=UTC). */
  dateCreated?: Date;
}

/** Options shared by every row of a bulk insert; `channel` and `priority` may cycle over a list. */
export interface BulkJobOptions
  extends Omit<JobOptions, 'uuid' | 'dependsOn' | 'graphUuid' | 'identityKey' | 'channel' | 'priority'> {
  channel?: string | string[];
  priority?: number | number[];
}

export interface QueueJobRow {
  id: number;
  uuid: string;
  graph_uuid: string | null;
  user_id: number | null;
  company_id: number | null;
  name: string | null;
  model_name: string | null;
  method_name: string | null;
  func_string: string | null;
  channel_method_name: string | null;
  job_function_id: number | null;
  records: string | null;
  args: string | null;
  kwargs: string | null;
  dependencies: string | null;
  state: JobState;
  priority: number | null;
  channel: string | null;
  identity_key: string | null;
  retry: number | null;
  max_retries: number | null;
  exc_name: string | null;
  exc_message: string | null;
  exc_info: string | null;
  result: string | null;
  worker_pid: number | null;
  exec_time: number | null;
  eta: Date | null;
  date_created: Date | null;
  date_enqueued: Date | null;
  date_started: Date | null;
  date_done: Date | null;
  date_cancelled: Date | null;
}

// Every column; the naive-UTC timestamps turned into timestamptz so any pg client parses them right.
const ROW_COLUMNS = `id, uuid, graph_uuid, user_id, company_id, name, model_name, method_name, func_string,
  channel_method_name, job_function_id, records, args, kwargs, dependencies, state, priority, channel,
  identity_key, retry, max_retries, exc_name, exc_message, exc_info, result, worker_pid, exec_time,
  eta AT TIME ZONE 'utc' AS eta, date_created AT TIME ZONE 'utc' AS date_created,
  date_enqueued AT TIME ZONE 'utc' AS date_enqueued, date_started AT TIME ZONE 'utc' AS date_started,
  date_done AT TIME ZONE 'utc' AS date_done, date_cancelled AT TIME ZONE 'utc' AS date_cancelled`;

// $1 = an instant (ISO text), $2 = seconds from now; both NULL = no eta. Naive UTC like Odoo.
const ETA_SQL = (at: string, seconds: string) =>
  `COALESCE(${at}::timestamptz AT TIME ZONE 'utc', (now() AT TIME ZONE 'utc') + make_interval(secs => ${seconds}::float8))`;

// The columns with_delay() writes at creation; everything else (dates, exc_*, result...) stays NULL.
const INSERT_COLUMNS = `uuid, graph_uuid, user_id, company_id, state, priority, channel, eta, retry, max_retries,
  date_created, name, model_name, method_name, func_string, channel_method_name, records, args, kwargs,
  dependencies, identity_key`;

/** Inserts one job as with_delay() would; returns the stored row. */
export async function createJob(pool: pg.Pool, options: JobOptions = {}): Promise<QueueJobRow> {
  if (options.dependsOn?.length) return createDependentJob(pool, options);
  const state = options.state ?? 'pending';
  return insertJob(pool, options, state, options.graphUuid ?? null, dependencies([], []));
}

/**
 * Inserts `count` pending jobs in one statement (100k rows in a couple of seconds). Names get ` #i`.
 * Returns their uuids in id order.
 */
export async function createJobs(
  pool: Queryable,
  count: number,
  options: BulkJobOptions = {},
): Promise<string[]> {
  const f = fields(options);
  const channels = Array.isArray(options.channel) ? options.channel : [options.channel ?? 'root'];
  const priorities = Array.isArray(options.priority) ? options.priority : [options.priority ?? 10];
  const [etaAt, etaSeconds] = etaParams(options.eta);
  // One INSERT ... SELECT over generate_series; random v4 uuids; channel/priority cycle per row.
  const { rows } = await pool.query<{ uuid: string }>(
    `INSERT INTO queue_job (${INSERT_COLUMNS})
     SELECT gen_random_uuid()::text, NULL, $1, $2, $3,
            ($4::int[])[1 + (i - 1) % cardinality($4::int[])],
            ($5::text[])[1 + (i - 1) % cardinality($5::text[])],
            ${ETA_SQL('$6', '$7')}, $8, $9,
            COALESCE($10::timestamptz AT TIME ZONE 'utc', now() AT TIME ZONE 'utc'),
            $11 || ' #' || i, $12, $13, $14, $15, $16, $17, $18, $19, NULL
     FROM generate_series(1, $20::int) AS i
     ORDER BY i
     RETURNING uuid`,
    [
      f.userId,
      f.companyId,
      options.state ?? 'pending',
      priorities,
      channels,
      etaAt,
      etaSeconds,
      f.retry,
      f.maxRetries,
      f.dateCreated,
      f.name,
      f.modelName,
      f.methodName,
      f.funcString,
      f.channelMethodName,
      f.records,
      f.args,
      f.kwargs,
      dependencies([], []),
      count,
    ],
  );
  return rows.map((row) => row.uuid);
}

/**
 * A dependency chain of `n` jobs as `chain(a, b, c).delay()` stores it: one graph_uuid, the first
 * `pending`, the others `wait_dependencies`, each parent listing its child in `reverse_depends_on`.
 * Returns the uuids in chain order.
 */
export async function createChain(
  pool: Queryable,
  n: number,
  options: BulkJobOptions = {},
): Promise<string[]> {
  if (n < 1) return [];
  const f = fields(options);
  const channel = Array.isArray(options.channel)
    ? (options.channel[0] ?? 'root')
    : (options.channel ?? 'root');
  const priority = Array.isArray(options.priority) ? (options.priority[0] ?? 10) : (options.priority ?? 10);
  const graphUuid = n > 1 ? randomUUID() : null;
  const uuids = Array.from({ length: n }, () => randomUUID());
  const states = uuids.map((_, i) => (i === 0 ? 'pending' : 'wait_dependencies'));
  const deps = uuids.map((_, i) =>
    dependencies(i > 0 ? [uuids[i - 1] as string] : [], i < n - 1 ? [uuids[i + 1] as string] : []),
  );
  const names = uuids.map((_, i) => `${f.name} #${i + 1}`);
  const [etaAt, etaSeconds] = etaParams(options.eta);
  // The whole graph in one INSERT, as delay() stores all its jobs in one transaction.
  const { rows } = await pool.query<{ uuid: string }>(
    `INSERT INTO queue_job (${INSERT_COLUMNS})
     SELECT u, $1, $2, $3, s, $4, $5, ${ETA_SQL('$6', '$7')}, $8, $9,
            COALESCE($10::timestamptz AT TIME ZONE 'utc', now() AT TIME ZONE 'utc'),
            nm, $11, $12, $13, $14, $15, $16, $17, d, NULL
     FROM unnest($18::text[], $19::text[], $20::text[], $21::text[]) WITH ORDINALITY AS t(u, s, d, nm, i)
     ORDER BY i
     RETURNING uuid`,
    [
      graphUuid,
      f.userId,
      f.companyId,
      priority,
      channel,
      etaAt,
      etaSeconds,
      f.retry,
      f.maxRetries,
      f.dateCreated,
      f.modelName,
      f.methodName,
      f.funcString,
      f.channelMethodName,
      f.records,
      f.args,
      f.kwargs,
      uuids,
      states,
      deps,
      names,
    ],
  );
  return rows.map((row) => row.uuid);
}

export async function getJob(pool: Queryable, uuid: string): Promise<QueueJobRow | undefined> {
  // Read-only; the lowest id if a cloned database holds the uuid twice.
  const { rows } = await pool.query<QueueJobRow>(
    `SELECT ${ROW_COLUMNS} FROM queue_job WHERE uuid = $1 ORDER BY id LIMIT 1`,
    [uuid],
  );
  return rows[0];
}

/** uuid → state, for the given uuids or for every job. */
export async function jobStates(pool: Queryable, uuids?: string[]): Promise<Record<string, JobState>> {
  // Read-only snapshot of states.
  const { rows } = await pool.query<{ uuid: string; state: JobState }>(
    'SELECT uuid, state FROM queue_job WHERE $1::text[] IS NULL OR uuid = ANY($1::text[])',
    [uuids ?? null],
  );
  return Object.fromEntries(rows.map((row) => [row.uuid, row.state]));
}

/** state → number of jobs (states with no job are absent). */
export async function stateCounts(pool: Queryable): Promise<Partial<Record<JobState, number>>> {
  // Read-only counts by state.
  const { rows } = await pool.query<{ state: JobState; n: number }>(
    'SELECT state, count(*)::int AS n FROM queue_job GROUP BY state',
  );
  return Object.fromEntries(rows.map((row) => [row.state, row.n]));
}

/** What a runner's claim does: pending → enqueued with date_enqueued to the second. Returns the uuids claimed. */
export async function markEnqueued(pool: Queryable, uuids: string[]): Promise<string[]> {
  // Guarded by state='pending' like a correct runner; date_enqueued as upstream (seconds, naive UTC).
  const { rows } = await pool.query<{ uuid: string }>(
    `UPDATE queue_job SET state = 'enqueued', date_enqueued = date_trunc('seconds', now() AT TIME ZONE 'utc')
     WHERE uuid = ANY($1::text[]) AND state = 'pending' RETURNING uuid`,
    [uuids],
  );
  return rows.map((row) => row.uuid);
}

async function insertJob(
  db: Queryable,
  options: JobOptions,
  state: JobState,
  graphUuid: string | null,
  deps: string,
): Promise<QueueJobRow> {
  const f = fields(options);
  const [etaAt, etaSeconds] = etaParams(options.eta);
  // One row with exactly the columns with_delay() sets at creation.
  const { rows } = await db.query<QueueJobRow>(
    `INSERT INTO queue_job (${INSERT_COLUMNS})
     VALUES ($1, $2, $3, $4, $5, $6, $7, ${ETA_SQL('$8', '$9')}, $10, $11,
             COALESCE($12::timestamptz AT TIME ZONE 'utc', now() AT TIME ZONE 'utc'),
             $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
     RETURNING ${ROW_COLUMNS}`,
    [
      options.uuid ?? randomUUID(),
      graphUuid,
      f.userId,
      f.companyId,
      state,
      options.priority ?? 10,
      options.channel ?? 'root',
      etaAt,
      etaSeconds,
      f.retry,
      f.maxRetries,
      f.dateCreated,
      f.name,
      f.modelName,
      f.methodName,
      f.funcString,
      f.channelMethodName,
      f.records,
      f.args,
      f.kwargs,
      deps,
      options.identityKey ?? null,
    ],
  );
  return rows[0] as QueueJobRow;
}

// A job added to existing parents: Odoo's add_depends(), stored in one transaction with the parents.
async function createDependentJob(pool: pg.Pool, options: JobOptions): Promise<QueueJobRow> {
  const parents = options.dependsOn ?? [];
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // Lock the parents so their reverse_depends_on update below cannot be lost to a concurrent writer.
    const { rows } = await client.query<{ uuid: string; state: JobState; graph_uuid: string | null }>(
      'SELECT uuid, state, graph_uuid FROM queue_job WHERE uuid = ANY($1::text[]) FOR UPDATE',
      [parents],
    );
    if (rows.length < new Set(parents).size)
      throw new Error(`dependsOn: unknown parent uuid in ${parents.join(', ')}`);
    const graphUuid = options.graphUuid ?? rows.find((row) => row.graph_uuid)?.graph_uuid ?? randomUUID();
    const state =
      options.state ?? (rows.every((row) => row.state === 'done') ? 'pending' : 'wait_dependencies');
    const job = await insertJob(client, options, state, graphUuid, dependencies(parents, []));
    // Parents join the graph and list the child, keeping the rest of their dependencies JSON.
    await client.query(
      `UPDATE queue_job
       SET graph_uuid = COALESCE(graph_uuid, $2),
           dependencies = jsonb_set(
             COALESCE(dependencies::jsonb, '{"depends_on": [], "reverse_depends_on": []}'::jsonb),
             '{reverse_depends_on}',
             COALESCE(dependencies::jsonb -> 'reverse_depends_on', '[]'::jsonb) || to_jsonb($3::text)
           )::text
       WHERE uuid = ANY($1::text[])`,
      [parents, graphUuid, job.uuid],
    );
    await client.query('COMMIT');
    return job;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

interface Fields {
  userId: number;
  companyId: number;
  retry: number;
  maxRetries: number;
  dateCreated: string | null;
  name: string;
  modelName: string;
  methodName: string;
  funcString: string;
  channelMethodName: string;
  records: string;
  args: string;
  kwargs: string;
}

// The derived columns, as Job._store_values() and queue_job's JobEncoder write them.
function fields(options: Omit<JobOptions, 'channel' | 'priority'>): Fields {
  const modelName = options.modelName ?? 'queue.job';
  const methodName = options.methodName ?? '_test_job';
  const recordIds = options.recordIds ?? [];
  const args = options.args ?? [];
  const kwargs = options.kwargs ?? {};
  const userId = options.userId ?? 2;
  const allArgs = [...args.map(pyRepr), ...Object.entries(kwargs).map(([k, v]) => `${k}=${pyRepr(v)}`)];
  return {
    userId,
    companyId: options.companyId ?? 1,
    retry: options.retry ?? 0,
    maxRetries: options.maxRetries ?? 5,
    dateCreated: options.dateCreated ? options.dateCreated.toISOString() : null,
    name: options.name ?? `${modelName}.${methodName}`,
    modelName,
    methodName,
    funcString: `${modelName}${pyTuple(recordIds)}.${methodName}(${allArgs.join(', ')})`,
    channelMethodName: `<${modelName}>.${methodName}`,
    records: pyJson({
      _type: 'odoo_recordset',
      model: modelName,
      ids: recordIds,
      uid: userId,
      su: false,
      context: {},
    }),
    args: pyJson(args),
    kwargs: pyJson(kwargs),
  };
}

function dependencies(dependsOn: string[], reverseDependsOn: string[]): string {
  return pyJson({ depends_on: dependsOn, reverse_depends_on: reverseDependsOn });
}

function etaParams(eta: Date | number | null | undefined): [string | null, number | null] {
  if (eta instanceof Date) return [eta.toISOString(), null];
  if (typeof eta === 'number') return [null, eta];
  return [null, null];
}

/** JSON with Python's json.dumps separators (", " and ": "), as Odoo stores it. */
function pyJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pyJson).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${pyJson(v)}`);
    return `{${entries.join(', ')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** A recordset's repr: `res.partner()`, `res.partner(1,)`, `res.partner(1, 2)`. */
function pyTuple(ids: number[]): string {
  return ids.length === 1 ? `(${ids[0]},)` : `(${ids.join(', ')})`;
}

/** Python's repr() of a JSON-like value, for func_string. */
function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'string') return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`;
  if (typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`)
      .join(', ')}}`;
  }
  return String(value);
}
