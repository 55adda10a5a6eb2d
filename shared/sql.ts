/**
 * Every SQL statement the runner sends, in one place. All are parameterized; none is built from input.
 * Times in queue_job are naive UTC (`timestamp without time zone`), so every comparison uses
 * `now() AT TIME ZONE 'utc'`, and times leave the database as epoch milliseconds.
 *
 * The runner only needs SELECT and UPDATE on Odoo's tables (invariant 8); `helperIndex*` are the one
 * optional exception, run only by `queue-job-runner optimize`.
 */

/** Opens a claim/sweep transaction whose locks and statements cannot hang: values are validated integers. */
export function begin(lockTimeoutMs: number, statementTimeoutMs: number): string {
  const lock = Math.trunc(lockTimeoutMs);
  const statement = Math.trunc(statementTimeoutMs);
  return `BEGIN; SET LOCAL lock_timeout = ${lock}; SET LOCAL statement_timeout = ${statement}; SET LOCAL idle_in_transaction_session_timeout = ${statement * 3}`;
}

/**
 * The baton: serializes capacity accounting between concurrent passes on one database. The row lock is
 * held until commit; a pass that waited sees the other pass's committed claims in its next statement
 * (READ COMMITTED). FOR NO KEY UPDATE does not block Odoo's foreign-key checks, which take KEY SHARE.
 */
export const baton = `SELECT id FROM queue_job_channel WHERE complete_name = 'root' FOR NO KEY UPDATE`;

/** Fallback baton when the root channel row is missing: a transaction-level advisory lock, same scope. */
export const batonFallback = `SELECT pg_advisory_xact_lock(hashtext('queue-job-runner.baton'))`;

/**
 * How a channel may be spelled in queue_job.channel: complete, or without the optional `root.` prefix
 * when that short form means this channel and no other. It does not for 'root.root' ('root' is root),
 * 'root.' ('' is root) or 'root.root.x' ('root.x' is root.x): there only the complete name is this
 * channel, and offering the short form would hide another channel's jobs from the candidate read.
 */
export function spellings(name: string): string[] {
  if (name === 'root') return ['root', ''];
  const short = name.slice('root.'.length);
  const meansItself = short !== '' && short !== 'root' && !short.startsWith('root.');
  return meansItself ? [name, short] : [name];
}

/** A LIKE pattern matching the sub-channels of a channel spelled `name`, LIKE wildcards escaped. */
export function subtreePattern(name: string): string {
  return `${name.replace(/[\\%_]/g, (c) => `\\${c}`)}.%`;
}

/** A raw channel column as its complete name: '' / NULL / 'root' → 'root', 'a.b' → 'root.a.b'. */
function normalized(column: string): string {
  return `CASE WHEN ${column} IS NULL OR ${column} IN ('', 'root') THEN 'root'
  WHEN ${column} LIKE 'root.%' THEN ${column} ELSE 'root.' || ${column} END`;
}

const normalizedChannel = normalized('j.channel');

/** A job's channel is sequential: configured so ($1), or a direct child of a `sequential_default` channel ($5). */
const sequentialChannel = `(${normalizedChannel} = ANY($1::text[])
    OR regexp_replace(${normalizedChannel}, '[.][^.]*$', '') = ANY($5::text[]))`;

/**
 * Everything the plan needs except the candidates, in one round trip:
 * - running: jobs holding capacity (enqueued + started), per raw channel;
 * - failed: normalized sequential channels ($1) that hold a failed job (they block), and the
 *   auto-created children of channels with 18.0's `sequential_default` ($5) that do;
 * - waiting: per sequential channel ($1, and the $5 children), the earliest-eta pending job not yet due
 *   (the eta-wait rule);
 * - throttled: per throttled channel ($2, its subtree's LIKE pattern in $3, seconds in $4), the last time
 *   a job of its subtree was enqueued.
 * Empty arrays turn their part into a one-time-filtered no-op. Extra rows (a $5 child that is configured
 * and not sequential) are harmless: the planner only asks sequential channels.
 */
export const passState = {
  name: 'qjr_pass_state',
  text: `
WITH clock AS (SELECT now() AT TIME ZONE 'utc' AS now_utc),
running AS (
  SELECT coalesce(j.channel, '') AS channel, count(*)::int AS n
  FROM queue_job j WHERE j.state IN ('enqueued', 'started') GROUP BY 1
),
failed AS (
  SELECT DISTINCT ${normalizedChannel} AS channel FROM queue_job j
  WHERE cardinality($1::text[]) + cardinality($5::text[]) > 0 AND j.state = 'failed' AND ${sequentialChannel}
),
waiting AS (
  SELECT DISTINCT ON (ch) j.id, j.uuid, j.channel, j.priority, j.date_created, j.eta, ${normalizedChannel} AS ch
  FROM queue_job j, clock
  WHERE cardinality($1::text[]) + cardinality($5::text[]) > 0 AND j.state = 'pending' AND j.eta > clock.now_utc
    AND ${sequentialChannel}
  ORDER BY ch, j.eta, coalesce(j.priority, 10), j.date_created, j.id
),
throttled AS (
  SELECT t.name, max(j.date_enqueued) AS last_enqueued
  FROM unnest($2::text[], $3::text[], $4::int[]) AS t(name, subtree, seconds)
  JOIN queue_job j ON cardinality($2::text[]) > 0 AND j.date_enqueued IS NOT NULL
    AND j.date_enqueued >= (SELECT now_utc FROM clock) - make_interval(secs => t.seconds + 1)
    AND (${normalizedChannel} = t.name OR ${normalizedChannel} LIKE t.subtree)
  GROUP BY t.name
)
SELECT
  (extract(epoch FROM (SELECT now_utc FROM clock)) * 1000)::float8 AS now,
  (SELECT coalesce(json_agg(json_build_object('channel', channel, 'n', n)), '[]') FROM running) AS running,
  (SELECT coalesce(json_agg(channel), '[]') FROM failed) AS failed,
  (SELECT coalesce(json_agg(json_build_object('id', id, 'uuid', uuid, 'channel', channel, 'priority', priority,
      'dateCreated', extract(epoch FROM date_created) * 1000, 'eta', extract(epoch FROM eta) * 1000)), '[]')
    FROM waiting) AS waiting,
  (SELECT coalesce(json_agg(json_build_object('name', name,
      'lastEnqueued', extract(epoch FROM last_enqueued) * 1000)), '[]') FROM throttled) AS throttled`,
};

/**
 * The earliest future eta, to know when to wake up. Read only while root has room: a full root wakes on
 * Odoo's notifications when a job ends. Uses the eta helper index when present, else one scan.
 */
export const nextEta = {
  name: 'qjr_next_eta',
  text: `SELECT (extract(epoch FROM j.eta) * 1000)::float8 AS eta FROM queue_job j
WHERE j.state = 'pending' AND j.eta IS NOT NULL AND j.eta > now() AT TIME ZONE 'utc' ORDER BY j.eta LIMIT 1`,
};

const candidateColumns = `j.id, j.uuid, j.channel, j.priority,
  (extract(epoch FROM j.date_created) * 1000)::float8 AS "dateCreated", (extract(epoch FROM j.eta) * 1000)::float8 AS eta`;

/**
 * Channels the plan cannot take from (full, blocked or paused): their subtree is left out of the read.
 * $2 holds the closed channels' raw spellings ('root.a' and 'a'), $3 LIKE patterns of their subtrees;
 * comparing the raw column keeps the per-row cost low. Root is never closed here (the read is skipped).
 */
function open(column: string): string {
  return `NOT (coalesce(${column}, '') = ANY($2::text[]) OR coalesce(${column}, '') LIKE ANY($3::text[]))`;
}

/**
 * Due pending jobs of open channels: the first $1 of each raw channel in OCA order (never
 * wait_dependencies: only state = 'pending' is read). Without the helper indexes: one pass over the
 * pending rows of open channels, ranked per channel, so a busy channel cannot hide the others; the done
 * rows never enter, whatever their number. The ranking sorts those rows: linear-logarithmic in the
 * backlog, which is what the helper indexes remove.
 */
export const candidatesByScan = {
  name: 'qjr_candidates_scan',
  text: `
SELECT id, uuid, channel, priority, "dateCreated", eta FROM (
  SELECT ${candidateColumns}, row_number() OVER (PARTITION BY j.channel COLLATE "C"
    ORDER BY coalesce(j.priority, 10), j.date_created, j.id) AS rank
  FROM queue_job j
  WHERE j.state = 'pending' AND (j.eta IS NULL OR j.eta <= now() AT TIME ZONE 'utc') AND ${open('j.channel')}
) ranked WHERE rank <= $1`,
};

/**
 * The same with the helper indexes: a skip scan finds each channel holding pending jobs, then each open
 * channel's head is read in index order, $1 rows at most per channel: no sort, no scan of the pending set.
 */
export const candidatesByIndex = {
  name: 'qjr_candidates_index',
  text: `
WITH RECURSIVE channels AS (
  (SELECT j.channel FROM queue_job j WHERE j.state = 'pending' AND j.channel IS NOT NULL ORDER BY j.channel LIMIT 1)
  UNION ALL
  SELECT (SELECT j.channel FROM queue_job j WHERE j.state = 'pending' AND j.channel > c.channel
    ORDER BY j.channel LIMIT 1)
  FROM channels c WHERE c.channel IS NOT NULL
)
SELECT head.* FROM channels c, LATERAL (
  SELECT ${candidateColumns} FROM queue_job j
  WHERE j.state = 'pending' AND j.channel = c.channel AND (j.eta IS NULL OR j.eta <= now() AT TIME ZONE 'utc')
  ORDER BY j.channel, coalesce(j.priority, 10), j.date_created, j.id LIMIT $1
) head
WHERE c.channel IS NOT NULL AND ${open('c.channel')}
UNION ALL
(SELECT ${candidateColumns} FROM queue_job j
  WHERE j.state = 'pending' AND j.channel IS NULL AND (j.eta IS NULL OR j.eta <= now() AT TIME ZONE 'utc')
    AND ${open('j.channel')}
  ORDER BY coalesce(j.priority, 10), j.date_created, j.id LIMIT $1)`,
};

/**
 * The claim (invariant 1): pending → enqueued only for planned rows still pending and due, skipping rows
 * another transaction holds. Only the rows returned were claimed, and only they may be sent.
 * date_enqueued is truncated to seconds as upstream's runner writes it.
 */
export const claim = { name: 'qjr_claim', text: claimStatement(true) };

function claimStatement(dueOnly: boolean): string {
  return `
WITH claimable AS MATERIALIZED (
  SELECT id FROM queue_job
  WHERE id = ANY($1::int[]) AND state = 'pending'${dueOnly ? ` AND (eta IS NULL OR eta <= now() AT TIME ZONE 'utc')` : ''}
  FOR UPDATE SKIP LOCKED
)
UPDATE queue_job j SET state = 'enqueued', date_enqueued = date_trunc('seconds', now() AT TIME ZONE 'utc')
FROM claimable c WHERE j.id = c.id AND j.state = 'pending'
RETURNING j.id, j.uuid, j.channel`;
}

/**
 * The guarded revert (invariant 4): a claimed job Odoo never got goes back to pending. Once Odoo has
 * committed `started`, the state guard makes this a no-op, so a revert can never cause a second run.
 */
export const revert = `
UPDATE queue_job SET state = 'pending', date_enqueued = NULL, date_started = NULL
WHERE id = ANY($1::int[]) AND state = 'enqueued'
RETURNING id, uuid`;

/**
 * Lost enqueued jobs: claimed more than $1 seconds ago and never taken by Odoo (the controller moves a
 * job to started in its first transaction). Rows locked right now (a controller taking them) are skipped.
 */
export const sweepEnqueued = `
WITH lost AS MATERIALIZED (
  SELECT id FROM queue_job
  WHERE state = 'enqueued' AND date_enqueued < (now() AT TIME ZONE 'utc') - make_interval(secs => $1)
  FOR UPDATE SKIP LOCKED
)
UPDATE queue_job j SET state = 'pending', date_enqueued = NULL, date_started = NULL
FROM lost WHERE j.id = lost.id AND j.state = 'enqueued'
RETURNING j.id, j.uuid, j.channel`;

const deadJobValues = `
  state = CASE WHEN coalesce(max_retries, 0) <> 0 AND coalesce(retry, 0) + 1 >= max_retries
    THEN 'failed' ELSE 'pending' END,
  retry = coalesce(retry, 0) + 1,
  exc_name = CASE WHEN coalesce(max_retries, 0) <> 0 AND coalesce(retry, 0) + 1 >= max_retries
    THEN 'JobFoundDead' ELSE exc_name END,
  exc_message = CASE WHEN coalesce(max_retries, 0) <> 0 AND coalesce(retry, 0) + 1 >= max_retries
    THEN 'Job found dead after too many retries' ELSE exc_message END,
  exc_info = CASE WHEN coalesce(max_retries, 0) <> 0 AND coalesce(retry, 0) + 1 >= max_retries
    THEN 'Job found dead after too many retries: its worker disappeared while running it '
      || coalesce(retry, 0) + 1 || ' time(s) (requeued by queue-job-runner).' ELSE exc_info END,
  date_enqueued = NULL, date_started = NULL, worker_pid = NULL`;

/**
 * Which started jobs are dead, baseline module (no lock table): the job's worker has no connection left.
 * A worker is alive while a connection named after its pid ($2 with {pid}) exists that began before
 * the job started (+$1 s grace for clock skew); when backend_start is hidden (no pg_read_all_stats),
 * any such connection counts as alive. Jobs younger than the grace are left alone. Invariant 5: a
 * started job is only touched when that signal says its worker is gone.
 */
const deadByConnection = `j.state = 'started' AND j.worker_pid IS NOT NULL
    AND j.date_started < (now() AT TIME ZONE 'utc') - make_interval(secs => $1)
    AND NOT EXISTS (
      SELECT 1 FROM pg_stat_activity a
      WHERE a.application_name = replace($2, '{pid}', j.worker_pid::text)
        AND (a.backend_start IS NULL
          OR a.backend_start AT TIME ZONE 'utc' <= j.date_started + make_interval(secs => $1))
    )`;

/** Requeues (retry + 1) or fails the started jobs `where` finds dead; rows held elsewhere are skipped. */
function sweepStarted(where: string): string {
  return `
WITH dead AS MATERIALIZED (
  SELECT j.id FROM queue_job j WHERE ${where}
  FOR UPDATE OF j SKIP LOCKED
)
UPDATE queue_job SET ${deadJobValues}
FROM dead WHERE queue_job.id = dead.id AND queue_job.state = 'started'
RETURNING queue_job.id, queue_job.uuid, queue_job.channel, queue_job.state`;
}

export const sweepStartedByConnection = sweepStarted(deadByConnection);

/**
 * Whether Odoo's connections to this database are visible under the application_name pattern at all.
 * Without one, the pattern is wrong (ODOO_PGAPPNAME) or Odoo is down, and the signal is not trusted.
 */
export const odooConnectionsVisible = `
SELECT EXISTS (
  SELECT 1 FROM pg_stat_activity
  WHERE datname = current_database()
    AND application_name LIKE replace(replace(replace($1, '%', '\\%'), '_', '\\_'), '{pid}', '%')
) AS visible`;

/** The 2025+ lock tables, newest name first (contract 1.4). */
export const lockTable = `
SELECT CASE WHEN to_regclass('queue_job_lock') IS NOT NULL THEN 'queue_job_lock'
  WHEN to_regclass('queue_job_locks') IS NOT NULL THEN 'queue_job_locks' END AS name`;

/**
 * Which started jobs are dead with upstream's lock table: a live worker holds its lock row FOR NO KEY
 * UPDATE for the whole job; a row we can lock (or a missing row) means the worker is gone.
 * `queue_job_lock(queue_job_id)` is the final form, `queue_job_locks(id)` an earlier iteration.
 */
function deadByLock(table: 'queue_job_lock' | 'queue_job_locks'): string {
  const column = table === 'queue_job_lock' ? 'queue_job_id' : 'id';
  return `j.state = 'started' AND j.date_started < (now() AT TIME ZONE 'utc') - make_interval(secs => $1)
    AND (
      NOT EXISTS (SELECT 1 FROM ${table} l WHERE l.${column} = j.id)
      OR j.id IN (SELECT l.${column} FROM ${table} l WHERE l.${column} = j.id FOR NO KEY UPDATE SKIP LOCKED)
    )`;
}

export const sweepStartedByLock = sweepStarted(deadByLock('queue_job_lock'));
export const sweepStartedByLocks = sweepStarted(deadByLock('queue_job_locks'));

/**
 * Upstream's built-in runner (2025+) holds session advisory lock 2293787760715711918 on the database it
 * serves; a bigint key appears in pg_locks as classid = high 32 bits, objid = low 32 bits, objsubid = 1.
 */
export const upstreamRunner = `
SELECT EXISTS (
  SELECT 1 FROM pg_locks
  WHERE locktype = 'advisory' AND granted AND objsubid = 1
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND classid::text::bigint = 534064080 AND objid::text::bigint = 3147384238
) AS held`;

/** Odoo's own idea of its public URL: what makes a staging clone call itself, not production. */
export const webBaseUrl = `SELECT value FROM ir_config_parameter WHERE key = 'web.base.url'`;

/** Jobs named by uuid, for dispatch: their state decides what can be done. */
export const jobsByUuid = `
SELECT id, uuid, channel, state, priority, (extract(epoch FROM date_created) * 1000)::float8 AS "dateCreated",
  (extract(epoch FROM eta) * 1000)::float8 AS eta
FROM queue_job WHERE uuid = ANY($1::text[]) ORDER BY coalesce(priority, 10), date_created, id`;

/** A channel's (and its sub-channels') due pending jobs in OCA order, for a manual run. */
export const dueInChannel = `
SELECT j.id, j.uuid, j.channel, j.state, j.priority,
  (extract(epoch FROM j.date_created) * 1000)::float8 AS "dateCreated", (extract(epoch FROM j.eta) * 1000)::float8 AS eta
FROM queue_job j
WHERE j.state = 'pending' AND (j.eta IS NULL OR j.eta <= now() AT TIME ZONE 'utc')
  AND (${normalizedChannel} = $1 OR ${normalizedChannel} LIKE $3)
ORDER BY coalesce(j.priority, 10), j.date_created, j.id
LIMIT $2`;

/** Per raw channel: counts by state, oldest due pending job, next eta, for status. */
export const channelStatus = `
SELECT coalesce(j.channel, '') AS channel, j.state, count(*)::int AS n,
  (extract(epoch FROM min(j.date_created) FILTER (WHERE j.state = 'pending'
    AND (j.eta IS NULL OR j.eta <= now() AT TIME ZONE 'utc'))) * 1000)::float8 AS "oldestPending",
  (extract(epoch FROM min(j.eta) FILTER (WHERE j.state = 'pending'
    AND j.eta > now() AT TIME ZONE 'utc')) * 1000)::float8 AS "nextEta"
FROM queue_job j WHERE j.state IN ('wait_dependencies', 'pending', 'enqueued', 'started', 'failed')
GROUP BY 1, 2`;

/**
 * The optional helper indexes (`queue-job-runner optimize`): each channel's pending head in OCA order,
 * and the next eta, read without scanning the pending set. Partial on pending rows, so they stay small.
 */
export const helperIndexes = [
  {
    name: 'queue_job_runner_pending_idx',
    create: `CREATE INDEX CONCURRENTLY IF NOT EXISTS queue_job_runner_pending_idx
      ON queue_job (channel, (coalesce(priority, 10)), date_created, id) WHERE state = 'pending'`,
    drop: 'DROP INDEX CONCURRENTLY IF EXISTS queue_job_runner_pending_idx',
  },
  {
    name: 'queue_job_runner_eta_idx',
    create: `CREATE INDEX CONCURRENTLY IF NOT EXISTS queue_job_runner_eta_idx
      ON queue_job (eta) WHERE state = 'pending' AND eta IS NOT NULL`,
    drop: 'DROP INDEX CONCURRENTLY IF EXISTS queue_job_runner_eta_idx',
  },
] as const;

/** Helper indexes that exist and are valid (a failed CONCURRENTLY build leaves an invalid one). */
export const helperIndexesPresent = `
SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE c.relname = ANY($1::text[]) AND i.indrelid = to_regclass('queue_job')`;

/** Wake-ups: Odoo's trigger notifies channel queue_job with the job uuid on every insert and update. */
export const listen = 'LISTEN queue_job';

// ---- Manual runs, status and keepalive (added for the dispatch/status/keepalive functions and the CLI).

/**
 * The claim for uuids an operator named ("run now"): as `claim`, guarded by state = 'pending' and
 * SKIP LOCKED so a job is still sent at most once, but without the eta guard: a named job runs now.
 */
export const claimNamed = { name: 'qjr_claim_named', text: claimStatement(false) };

/** The database clock, epoch ms: ages in status are measured on it, never on the runner's clock. */
export const databaseNow = `SELECT (extract(epoch FROM now()) * 1000)::float8 AS now`;

/** Status, read-only twin of sweepEnqueued: per raw channel, enqueued jobs older than $1 s (lost). */
export const deadEnqueuedByChannel = `
SELECT coalesce(channel, '') AS channel, count(*)::int AS n FROM queue_job
WHERE state = 'enqueued' AND date_enqueued < (now() AT TIME ZONE 'utc') - make_interval(secs => $1)
GROUP BY 1`;

/** Status: per raw channel, started jobs the sweep would judge dead (the sweep's own predicate). */
function deadStartedByChannel(where: string): string {
  return `SELECT coalesce(j.channel, '') AS channel, count(*)::int AS n FROM queue_job j WHERE ${where} GROUP BY 1`;
}

export const deadStartedByConnectionByChannel = deadStartedByChannel(deadByConnection);
/** Lockability can only be learnt by locking: run these in a transaction that is rolled back. */
export const deadStartedByLockByChannel = deadStartedByChannel(deadByLock('queue_job_lock'));
export const deadStartedByLocksByChannel = deadStartedByChannel(deadByLock('queue_job_locks'));

/** Keepalive: whether a pending job is due now or within $1 s, so Odoo is woken before its eta. */
export const pendingDueSoon = `
SELECT EXISTS (
  SELECT 1 FROM queue_job WHERE state = 'pending'
    AND (eta IS NULL OR eta <= (now() AT TIME ZONE 'utc') + make_interval(secs => $1))
) AS due`;
