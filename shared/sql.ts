/**
 * Every SQL statement the runner sends, in one place. All are parameterized; none is built from input.
 * Times in queue_job are naive UTC (`timestamp without time zone`), so every comparison uses
 * `now() AT TIME ZONE 'utc'`, and times leave the database as epoch milliseconds.
 *
 * The runner only needs SELECT and UPDATE on Odoo's tables (invariant 8); `helperIndex*` are the one
 * optional exception, run only by `queue-job-runner optimize`.
 */

/**
 * A named statement. The name identifies it everywhere: as a prepared statement on the direct path and
 * as the key of the companion addon's catalogue (`odoo/queue_job_runner_bridge/catalogue.json`,
 * generated from this module by `npm run catalogue`), which is all the addon will execute.
 */
export interface Statement {
  readonly name: string;
  readonly text: string;
  /**
   * Whether a generic plan serves it as well as one planned for its values: the window's hot path.
   * PostgreSQL re-plans a prepared statement for each execution while its generic plan looks costlier,
   * and planning is most of what these cost on a small queue: measured on the idle 2-core machine,
   * pass state 0.70 ms planning against 0.21 ms executing, the claim 0.62 against 0.15; a pass-state unit
   * 1.16 → 0.63 ms and a claim unit 1.17 → 0.63 ms with generic plans forced. The candidate reads stay
   * planned per execution: their plan depends on the backlog's shape.
   */
  readonly generic: boolean;
}

const registry = new Map<string, Statement>();

/** Declares a statement of the catalogue; names are unique. */
function statement(name: string, text: string, options: { generic?: boolean } = {}): Statement {
  if (registry.has(name)) throw new Error(`duplicate statement name ${name}`);
  const declared = { name, text: text.trim(), generic: options.generic ?? false };
  registry.set(name, declared);
  return declared;
}

/** Every statement the runner may send to a target, by name: what the bridge addon may execute. */
export function catalogue(): Statement[] {
  return [...registry.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Opens a transaction whose locks and statements cannot hang: values are validated integers. With
 * `generic`, its prepared statements run their generic plans (`Statement.generic`), planned without
 * parallel workers: a generic plan cannot fold a part that empty arrays switch off (no throttled
 * channel, no sequential one), and where such a part scans queue_job in parallel its one-time filter
 * sits below the Gather, so the workers start and find nothing. Measured in a window beside 100 k
 * pending and 10 k `done` rows that keep their date_enqueued, as Odoo leaves them: 11–12 ms a pass
 * (two workers launched for the throttle read of a configuration without a throttled channel), 0.6–0.9
 * ms with them off. The candidate reads, the one place a scan is the work itself, keep their own plans.
 */
export function begin(lockTimeoutMs: number, statementTimeoutMs: number, generic = false): string {
  const lock = Math.trunc(lockTimeoutMs);
  const statement = Math.trunc(statementTimeoutMs);
  const plans = generic
    ? '; SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL max_parallel_workers_per_gather = 0'
    : '';
  return `BEGIN; SET LOCAL lock_timeout = ${lock}; SET LOCAL statement_timeout = ${statement}; SET LOCAL idle_in_transaction_session_timeout = ${statement * 3}${plans}`;
}

/**
 * The baton: serializes capacity accounting between concurrent passes on one database. The row lock is
 * held until commit; a pass that waited sees the other pass's committed claims in its next statement
 * (READ COMMITTED). FOR NO KEY UPDATE does not block Odoo's foreign-key checks, which take KEY SHARE.
 */
export const baton = statement(
  'qjr_baton',
  `
WITH root AS (SELECT id FROM queue_job_channel WHERE complete_name = 'root' FOR NO KEY UPDATE)
SELECT EXISTS (SELECT 1 FROM root) AS "rootBaton",
  -- The root row is missing (a damaged schema): a transaction-level advisory lock, same scope.
  CASE WHEN NOT EXISTS (SELECT 1 FROM root)
    THEN pg_advisory_xact_lock(hashtext('queue-job-runner.baton')) IS NOT NULL END AS "fallback"`,
  { generic: true },
);

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

/**
 * A job's channel is sequential: configured so (`names`), or a direct child of a `sequential_default`
 * channel (`parents`). The parent is read with a greedy group, not an end anchor: the bridge addon
 * refuses a `$` that is not a placeholder.
 */
function sequentialIn(names: string, parents: string): string {
  return `(${normalizedChannel} = ANY(${names}::text[])
    OR substring(${normalizedChannel} FROM '^(.*)[.][^.]*') = ANY(${parents}::text[]))`;
}
const sequentialChannel = sequentialIn('$1', '$5');

/**
 * Per throttled channel (placeholders of its names, subtree LIKE patterns and seconds; optionally of
 * the last-enqueued times a plan assumed): when its subtree last had a job enqueued within its
 * throttle. Two forms, the same rows:
 * - `scan`: one pass over queue_job joined to the channels. date_enqueued has no index of Odoo's, so
 *   this reads every row: measured beside 1 M `done` rows, 740 ms a statement (15 ms without a
 *   throttled channel).
 * - `index`, when the helper index on date_enqueued exists: per channel, the newest enqueued job of
 *   its subtree, read backwards from now down to the throttle's bound; the ORDER BY ... LIMIT 1 is
 *   what makes even a generic plan walk the index. Beside the same 1 M rows: under 1 ms. Without the
 *   index this form would scan the table once per throttled channel, hence the two.
 */
/** How a throttled channel's last enqueued job is read (`throttledSince`). */
type ThrottleRead = 'scan' | 'index';

function throttledSince(
  form: ThrottleRead,
  names: string,
  subtrees: string,
  seconds: string,
  assumed?: string,
): string {
  const carried = assumed ? ', t.assumed' : '';
  const channels = `unnest(${names}::text[], ${subtrees}::text[], ${seconds}::int[]${assumed ? `, ${assumed}::float8[]` : ''})
    AS t(name, subtree, seconds${assumed ? ', assumed' : ''})`;
  const bound = `j.date_enqueued >= (SELECT now_utc FROM clock) - make_interval(secs => t.seconds + 1)
    AND (${normalizedChannel} = t.name OR ${normalizedChannel} LIKE t.subtree)`;
  if (form === 'index')
    return `
  SELECT t.name${carried}, newest.last_enqueued
  FROM ${channels}
  CROSS JOIN LATERAL (
    SELECT j.date_enqueued AS last_enqueued FROM queue_job j
    WHERE cardinality(${names}::text[]) > 0 AND ${bound}
    ORDER BY j.date_enqueued DESC LIMIT 1
  ) newest`;
  return `
  SELECT t.name${carried}, max(j.date_enqueued) AS last_enqueued
  FROM ${channels}
  JOIN queue_job j ON cardinality(${names}::text[]) > 0 AND j.date_enqueued IS NOT NULL
    AND ${bound}
  GROUP BY t.name${carried}`;
}

/** Jobs holding capacity (enqueued + started), per raw channel: what the plan counts and the claim re-checks. */
const runningByRawChannel = `
  SELECT coalesce(j.channel, '') AS channel, count(*)::int AS n
  FROM queue_job j WHERE j.state IN ('enqueued', 'started') GROUP BY 1`;

/**
 * Everything the plan needs except the candidates, in one round trip:
 * - running: jobs holding capacity (enqueued + started), per raw channel;
 * - failed: normalized sequential channels ($1) that hold a failed job (they block), and the
 *   auto-created children of channels with 18.0's `sequential_default` ($5) that do;
 * - waiting: per sequential channel ($1, and the $5 children), the earliest-eta pending job not yet due
 *   (the eta-wait rule);
 * - throttled: per throttled channel ($2, its subtree's LIKE pattern in $3, seconds in $4), the last time
 *   a job of its subtree was enqueued;
 * - due: whether any pending job is due (no candidate read when none is);
 * - nextEta: the earliest future eta, to know when to wake up (the eta helper index serves it when present),
 *   read only while root ($6, its capacity; NULL = unlimited) has room: without the index it visits every
 *   pending row (100k pending, 10k done: about 10 ms of a 294 ms pass), and a full root is woken by the
 *   NOTIFY of the job that frees it, whose pass reads the eta again. NULL when root is full.
 * Empty arrays turn their part into a one-time-filtered no-op. Extra rows (a $5 child that is configured
 * and not sequential) are harmless: the planner only asks sequential channels. Read without the baton:
 * the claim re-checks under the baton that what the plan assumed still holds (`claim`).
 */
function passStateStatement(name: string, throttle: ThrottleRead): Statement {
  return statement(
    name,
    `
WITH clock AS (SELECT now() AT TIME ZONE 'utc' AS now_utc),
running AS (${runningByRawChannel}
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
throttled AS (${throttledSince(throttle, '$2', '$3', '$4')}
)
SELECT
  (extract(epoch FROM (SELECT now_utc FROM clock)) * 1000)::float8 AS now,
  (SELECT coalesce(json_agg(json_build_object('channel', channel, 'n', n)), '[]') FROM running) AS running,
  (SELECT coalesce(json_agg(channel), '[]') FROM failed) AS failed,
  (SELECT coalesce(json_agg(json_build_object('id', id, 'uuid', uuid, 'channel', channel, 'priority', priority,
      'dateCreated', extract(epoch FROM date_created) * 1000, 'eta', extract(epoch FROM eta) * 1000)), '[]')
    FROM waiting) AS waiting,
  (SELECT coalesce(json_agg(json_build_object('name', name,
      'lastEnqueued', extract(epoch FROM last_enqueued) * 1000)), '[]') FROM throttled) AS throttled,
  EXISTS (SELECT 1 FROM queue_job j, clock WHERE j.state = 'pending'
    AND (j.eta IS NULL OR j.eta <= clock.now_utc)) AS due,
  CASE WHEN $6::int IS NULL OR (SELECT coalesce(sum(n), 0) FROM running) < $6::int THEN
    (SELECT (extract(epoch FROM j.eta) * 1000)::float8 FROM queue_job j, clock
      WHERE j.state = 'pending' AND j.eta IS NOT NULL AND j.eta > clock.now_utc ORDER BY j.eta LIMIT 1)
  END AS "nextEta"`,
    { generic: true },
  );
}

export const passState = passStateStatement('qjr_pass_state', 'scan');

/** The same, its throttle read through the helper index on date_enqueued (`throttledSince`). */
export const passStateByIndex = passStateStatement('qjr_pass_state_index', 'index');

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
export const candidatesByScan = statement(
  'qjr_candidates_scan',
  `
SELECT id, uuid, channel, priority, "dateCreated", eta FROM (
  SELECT ${candidateColumns}, row_number() OVER (PARTITION BY j.channel COLLATE "C"
    ORDER BY coalesce(j.priority, 10), j.date_created, j.id) AS rank
  FROM queue_job j
  WHERE j.state = 'pending' AND (j.eta IS NULL OR j.eta <= now() AT TIME ZONE 'utc') AND ${open('j.channel')}
) ranked WHERE rank <= $1`,
);

/**
 * The same with the helper indexes: a skip scan finds each channel holding pending jobs, then each open
 * channel's head is read in index order, $1 rows at most per channel: no sort, no scan of the pending set.
 */
export const candidatesByIndex = statement(
  'qjr_candidates_index',
  `
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
);

/**
 * The claim (invariant 1), run right after the baton in the same transaction: pending → enqueued only
 * for planned rows ($1) still pending (and due, for a tick) and still in the raw channel the plan
 * counted them in ($12, parallel to $1; a job moved to another channel since the read would spend
 * that channel's capacity unchecked), skipping rows another transaction holds.
 * Only the rows returned in `claimed` were claimed, and only they may be sent. date_enqueued is
 * truncated to seconds as upstream's runner writes it; `now` is the claim's clock (throttle pauses).
 *
 * The plan was made from a read outside the baton (through the bridge, another request), so with $10
 * true the claim first proves that what the plan assumed still holds (invariant 3): no raw channel runs
 * more jobs than it did ($2 channels, $3 counts), no sequential channel ($4, or a child of a
 * `sequential_default` channel in $11) holds a failed job it did not ($5), no throttled channel ($6 names, $7 subtrees, $8 seconds, $9 last enqueued, epoch ms) had a
 * job enqueued since. Otherwise `holds` is false, nothing is claimed, and the runner plans again. With
 * $10 false (a manual run that ignores capacity) nothing is checked.
 */
function claimStatement(name: string, dueOnly: boolean, throttle: ThrottleRead): Statement {
  return statement(
    name,
    `
WITH clock AS (SELECT now() AT TIME ZONE 'utc' AS now_utc),
running AS (${runningByRawChannel}
),
grown AS (
  SELECT 1 FROM running r LEFT JOIN unnest($2::text[], $3::int[]) AS a(channel, n) ON a.channel = r.channel
  WHERE r.n > coalesce(a.n, 0)
),
failed AS (
  SELECT 1 FROM queue_job j
  WHERE cardinality($4::text[]) + cardinality($11::text[]) > 0 AND j.state = 'failed' AND ${sequentialIn('$4', '$11')}
    AND NOT ${normalizedChannel} = ANY($5::text[])
),
throttled AS (${throttledSince(throttle, '$6', '$7', '$8', '$9')}
),
holds AS (
  SELECT NOT $10::bool OR NOT (EXISTS (SELECT 1 FROM grown) OR EXISTS (SELECT 1 FROM failed)
    OR EXISTS (SELECT 1 FROM throttled
      WHERE extract(epoch FROM last_enqueued) * 1000 > coalesce(assumed, '-infinity'::float8))) AS ok
),
claimable AS MATERIALIZED (
  SELECT q.id FROM unnest($1::int[], $12::text[]) AS p(id, channel)
  JOIN queue_job q ON q.id = p.id AND q.channel IS NOT DISTINCT FROM p.channel, holds
  WHERE holds.ok AND q.state = 'pending'${dueOnly ? ` AND (q.eta IS NULL OR q.eta <= now() AT TIME ZONE 'utc')` : ''}
  FOR UPDATE OF q SKIP LOCKED
),
claimed AS (
  UPDATE queue_job j SET state = 'enqueued', date_enqueued = date_trunc('seconds', now() AT TIME ZONE 'utc')
  FROM claimable c WHERE j.id = c.id AND j.state = 'pending'
  RETURNING j.id, j.uuid, j.channel
)
SELECT (SELECT ok FROM holds) AS holds,
  (SELECT coalesce(json_agg(json_build_object('id', id, 'uuid', uuid, 'channel', channel)), '[]') FROM claimed)
    AS claimed,
  (extract(epoch FROM (SELECT now_utc FROM clock)) * 1000)::float8 AS now`,
    { generic: true },
  );
}

export const claim = claimStatement('qjr_claim', true, 'scan');

/** The claim, its throttle proof read through the helper index on date_enqueued (`throttledSince`). */
export const claimByIndex = claimStatement('qjr_claim_index', true, 'index');

/**
 * The claim for uuids an operator named ("run now"): as `claim`, guarded by state = 'pending' and
 * SKIP LOCKED so a job is still sent at most once, but without the eta guard: a named job runs now.
 */
export const claimNamed = claimStatement('qjr_claim_named', false, 'scan');

/** `claimNamed` with the throttle proof read through the helper index on date_enqueued. */
export const claimNamedByIndex = claimStatement('qjr_claim_named_index', false, 'index');

/**
 * The guarded revert (invariant 4): a claimed job Odoo never got goes back to pending. Once Odoo has
 * committed `started`, the state guard makes this a no-op, so a revert can never cause a second run.
 */
export const revert = statement(
  'qjr_revert',
  `
UPDATE queue_job SET state = 'pending', date_enqueued = NULL, date_started = NULL
WHERE id = ANY($1::int[]) AND state = 'enqueued'
RETURNING id, uuid`,
  { generic: true },
);

/**
 * Lost enqueued jobs: claimed more than $1 seconds ago and never taken by Odoo (the controller moves a
 * job to started in its first transaction). Rows locked right now (a controller taking them) are skipped.
 */
export const sweepEnqueued = statement(
  'qjr_sweep_enqueued',
  `
WITH lost AS MATERIALIZED (
  SELECT id FROM queue_job
  WHERE state = 'enqueued' AND date_enqueued < (now() AT TIME ZONE 'utc') - make_interval(secs => $1)
  FOR UPDATE SKIP LOCKED
)
UPDATE queue_job j SET state = 'pending', date_enqueued = NULL, date_started = NULL
FROM lost WHERE j.id = lost.id AND j.state = 'enqueued'
RETURNING j.id, j.uuid, j.channel`,
);

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

/** Whether some connection to this database carries Odoo's application_name pattern ($n, with {pid}). */
function odooVisible(pattern: string): string {
  return `EXISTS (
  SELECT 1 FROM pg_stat_activity
  WHERE datname = current_database()
    AND application_name LIKE replace(replace(replace(${pattern}, '%', '\\%'), '_', '\\_'), '{pid}', '%')
)`;
}

/**
 * Whether Odoo's connections to this database are visible under the application_name pattern at all.
 * Without one, the pattern is wrong (ODOO_PGAPPNAME) or Odoo is down, and the signal is not trusted.
 */
export const odooConnectionsVisible = statement(
  'qjr_odoo_connections_visible',
  `SELECT ${odooVisible('$1')} AS visible`,
);

/**
 * Which started jobs are dead, baseline module (no lock table): the job's worker has no connection left.
 * A worker is alive while a connection named after its pid ($2 with {pid}) exists that began before
 * the job started (+$1 s grace for clock skew); when backend_start is hidden (no pg_read_all_stats),
 * any such connection counts as alive. Jobs younger than the grace are left alone. The signal is only
 * trusted while some Odoo connection is visible under the pattern at all. Invariant 5: a started job is
 * only touched when that signal says its worker is gone.
 */
const deadByConnection = `j.state = 'started' AND j.worker_pid IS NOT NULL AND ${odooVisible('$2')}
    AND j.date_started < (now() AT TIME ZONE 'utc') - make_interval(secs => $1)
    AND NOT EXISTS (
      SELECT 1 FROM pg_stat_activity a
      WHERE a.application_name = replace($2, '{pid}', j.worker_pid::text)
        AND (a.backend_start IS NULL
          OR a.backend_start AT TIME ZONE 'utc' <= j.date_started + make_interval(secs => $1))
    )`;

/** Requeues (retry + 1) or fails the started jobs `where` finds dead; rows held elsewhere are skipped. */
function sweepStarted(name: string, where: string): Statement {
  return statement(
    name,
    `
WITH dead AS MATERIALIZED (
  SELECT j.id FROM queue_job j WHERE ${where}
  FOR UPDATE OF j SKIP LOCKED
)
UPDATE queue_job SET ${deadJobValues}
FROM dead WHERE queue_job.id = dead.id AND queue_job.state = 'started'
RETURNING queue_job.id, queue_job.uuid, queue_job.channel, queue_job.state`,
  );
}

export const sweepStartedByConnection = sweepStarted('qjr_sweep_started_by_connection', deadByConnection);

/**
 * Started jobs waiting for the connection signal: older than the grace ($1) with a worker pid, counted
 * only while no connection is visible under Odoo's pattern ($2), else 0. They hold capacity and no
 * sweep can judge them: after a PostgreSQL restart, an Odoo that serves only job requests holds no
 * connection until it gets a request, and none comes while they fill the capacity. The runner then
 * asks Odoo to open one (`liveness.ts`) and, failing that, warns.
 */
export const startedUnjudged = statement(
  'qjr_started_unjudged',
  `
SELECT CASE WHEN ${odooVisible('$2')} THEN 0 ELSE (
  SELECT count(*) FROM queue_job j WHERE j.state = 'started' AND j.worker_pid IS NOT NULL
    AND j.date_started < (now() AT TIME ZONE 'utc') - make_interval(secs => $1)
) END::int AS n`,
);

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

export const sweepStartedByLock = sweepStarted('qjr_sweep_started_by_lock', deadByLock('queue_job_lock'));
export const sweepStartedByLocks = sweepStarted('qjr_sweep_started_by_locks', deadByLock('queue_job_locks'));

/**
 * The capability probe (contract section 7, "How to detect the version at runtime"), one round trip:
 * - queueJob: queue_job's state and version in ir_module_module; baseVersion: Odoo's series;
 * - lockTable: the 2025+ lock table, newest name first (contract 1.4);
 * - advisoryLock: upstream's runner (2025+) holds session advisory lock 2293787760715711918 (a bigint
 *   key shows in pg_locks as classid = high 32 bits, objid = low 32 bits, objsubid = 1);
 * - builtinRunner: sessions that look like upstream's runner on any version (it takes no lock before
 *   2025): an Odoo connection ($1, ODOO_PGAPPNAME with {pid}) idle after one of $3 (its LISTEN, its
 *   keepalive), or whose last statement matches one of $4 (its other fixed statements); the statements
 *   are values, listed in capabilities.ts;
 * - missingColumns: the queue_job columns the runner relies on ($2) that the table lacks;
 * - modulesChanging: modules Odoo is installing or upgrading, with their last write (epoch ms, or null).
 */
export const capabilities = statement(
  'qjr_capabilities',
  `
WITH modules AS (
  SELECT m.name, m.state, m.latest_version, (to_jsonb(m) ->> 'write_date')::timestamp AS since
  FROM ir_module_module m
),
odoo AS (
  SELECT a.pid, a.application_name, a.state, a.query FROM pg_stat_activity a
  WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
    AND a.application_name LIKE replace(replace(replace($1, '%', '\\%'), '_', '\\_'), '{pid}', '%')
)
SELECT
  (SELECT json_build_object('state', state, 'version', latest_version) FROM modules
    WHERE name = 'queue_job' LIMIT 1) AS "queueJob",
  (SELECT latest_version FROM modules WHERE name = 'base' LIMIT 1) AS "baseVersion",
  CASE WHEN to_regclass('queue_job_lock') IS NOT NULL THEN 'queue_job_lock'
    WHEN to_regclass('queue_job_locks') IS NOT NULL THEN 'queue_job_locks' END AS "lockTable",
  EXISTS (
    SELECT 1 FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND objsubid = 1
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND classid::text::bigint = 534064080 AND objid::text::bigint = 3147384238
  ) AS "advisoryLock",
  (SELECT coalesce(json_agg(json_build_object('pid', o.pid, 'applicationName', o.application_name,
      'state', o.state, 'query', left(btrim(o.query), 120)) ORDER BY o.pid), '[]')
    FROM odoo o
    WHERE (o.state = 'idle' AND btrim(o.query) = ANY($3::text[])) OR o.query LIKE ANY($4::text[])
  ) AS "builtinRunner",
  (SELECT coalesce(json_agg(c.name ORDER BY c.name), '[]') FROM unnest($2::text[]) AS c(name)
    WHERE NOT EXISTS (
      SELECT 1 FROM information_schema.columns i
      WHERE i.table_schema = current_schema() AND i.table_name = 'queue_job' AND i.column_name = c.name
    )) AS "missingColumns",
  (SELECT coalesce(json_agg(json_build_object('name', name, 'state', state,
      'since', (extract(epoch FROM since) * 1000)::float8) ORDER BY name), '[]')
    FROM modules WHERE state IN ('to install', 'to upgrade')) AS "modulesChanging",
  (extract(epoch FROM now()) * 1000)::float8 AS now`,
);

/** Odoo's own idea of its public URL: what makes a staging clone call itself, not production. */
export const webBaseUrl = statement(
  'qjr_web_base_url',
  `SELECT value FROM ir_config_parameter WHERE key = 'web.base.url'`,
);

/** The database's own name: the `db=` Odoo must select when none is configured (a bridge target). */
export const currentDatabase = statement('qjr_current_database', `SELECT current_database() AS name`);

/** Jobs named by uuid, for dispatch: their state decides what can be done. */
export const jobsByUuid = statement(
  'qjr_jobs_by_uuid',
  `
SELECT id, uuid, channel, state, priority, (extract(epoch FROM date_created) * 1000)::float8 AS "dateCreated",
  (extract(epoch FROM eta) * 1000)::float8 AS eta
FROM queue_job WHERE uuid = ANY($1::text[]) ORDER BY coalesce(priority, 10), date_created, id`,
  { generic: true },
);

/** A channel's (and its sub-channels') due pending jobs in OCA order, for a manual run. */
export const dueInChannel = statement(
  'qjr_due_in_channel',
  `
SELECT j.id, j.uuid, j.channel, j.state, j.priority,
  (extract(epoch FROM j.date_created) * 1000)::float8 AS "dateCreated", (extract(epoch FROM j.eta) * 1000)::float8 AS eta
FROM queue_job j
WHERE j.state = 'pending' AND (j.eta IS NULL OR j.eta <= now() AT TIME ZONE 'utc')
  AND (${normalizedChannel} = $1 OR ${normalizedChannel} LIKE $3)
ORDER BY coalesce(j.priority, 10), j.date_created, j.id
LIMIT $2`,
);

/** Per raw channel: counts by state, oldest due pending job, next eta, for status. */
export const channelStatus = statement(
  'qjr_channel_status',
  `
SELECT coalesce(j.channel, '') AS channel, j.state, count(*)::int AS n,
  (extract(epoch FROM min(j.date_created) FILTER (WHERE j.state = 'pending'
    AND (j.eta IS NULL OR j.eta <= now() AT TIME ZONE 'utc'))) * 1000)::float8 AS "oldestPending",
  (extract(epoch FROM min(j.eta) FILTER (WHERE j.state = 'pending'
    AND j.eta > now() AT TIME ZONE 'utc')) * 1000)::float8 AS "nextEta"
FROM queue_job j WHERE j.state IN ('wait_dependencies', 'pending', 'enqueued', 'started', 'failed')
GROUP BY 1, 2`,
);

/**
 * The optional helper indexes (`queue-job-runner optimize`). `candidates`: each channel's pending head
 * in OCA order, and the next eta, read without scanning the pending set; partial on pending rows, so
 * they stay small. `throttle`: date_enqueued, which a throttled channel's read needs (`throttledSince`);
 * it covers every job ever enqueued (done ones keep the date), so it grows with the table, and each
 * write of a job's state updates it like Odoo's own seven indexes. DDL: never part of the catalogue,
 * never sent through the bridge.
 */
export const helperIndexes = [
  {
    name: 'queue_job_runner_pending_idx',
    serves: 'candidates',
    create: `CREATE INDEX CONCURRENTLY IF NOT EXISTS queue_job_runner_pending_idx
      ON queue_job (channel, (coalesce(priority, 10)), date_created, id) WHERE state = 'pending'`,
    drop: 'DROP INDEX CONCURRENTLY IF EXISTS queue_job_runner_pending_idx',
  },
  {
    name: 'queue_job_runner_eta_idx',
    serves: 'candidates',
    create: `CREATE INDEX CONCURRENTLY IF NOT EXISTS queue_job_runner_eta_idx
      ON queue_job (eta) WHERE state = 'pending' AND eta IS NOT NULL`,
    drop: 'DROP INDEX CONCURRENTLY IF EXISTS queue_job_runner_eta_idx',
  },
  {
    name: 'queue_job_runner_enqueued_idx',
    serves: 'throttle',
    create: `CREATE INDEX CONCURRENTLY IF NOT EXISTS queue_job_runner_enqueued_idx
      ON queue_job (date_enqueued) WHERE date_enqueued IS NOT NULL`,
    drop: 'DROP INDEX CONCURRENTLY IF EXISTS queue_job_runner_enqueued_idx',
  },
] as const;

/** Helper indexes that exist and are valid (a failed CONCURRENTLY build leaves an invalid one). */
export const helperIndexesPresent = statement(
  'qjr_helper_indexes_present',
  `
SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE c.relname = ANY($1::text[]) AND i.indrelid = to_regclass('queue_job')`,
);

/** Wake-ups: Odoo's trigger notifies channel queue_job with the job uuid on every insert and update. */
export const listen = 'LISTEN queue_job';

/** The database clock, epoch ms: ages in status are measured on it, never on the runner's clock. */
export const databaseNow = statement(
  'qjr_database_now',
  `SELECT (extract(epoch FROM now()) * 1000)::float8 AS now`,
);

/** Status, read-only twin of sweepEnqueued: per raw channel, enqueued jobs older than $1 s (lost). */
export const deadEnqueuedByChannel = statement(
  'qjr_dead_enqueued_by_channel',
  `
SELECT coalesce(channel, '') AS channel, count(*)::int AS n FROM queue_job
WHERE state = 'enqueued' AND date_enqueued < (now() AT TIME ZONE 'utc') - make_interval(secs => $1)
GROUP BY 1`,
);

/** Status: per raw channel, started jobs the sweep would judge dead (the sweep's own predicate). */
function deadStartedByChannel(name: string, where: string): Statement {
  return statement(
    name,
    `SELECT coalesce(j.channel, '') AS channel, count(*)::int AS n FROM queue_job j WHERE ${where} GROUP BY 1`,
  );
}

export const deadStartedByConnectionByChannel = deadStartedByChannel(
  'qjr_dead_started_by_connection_by_channel',
  deadByConnection,
);
/** Lockability can only be learnt by locking: run these in a unit that is rolled back. */
export const deadStartedByLockByChannel = deadStartedByChannel(
  'qjr_dead_started_by_lock_by_channel',
  deadByLock('queue_job_lock'),
);
export const deadStartedByLocksByChannel = deadStartedByChannel(
  'qjr_dead_started_by_locks_by_channel',
  deadByLock('queue_job_locks'),
);

/** Keepalive: whether a pending job is due now or within $1 s, so Odoo is woken before its eta. */
export const pendingDueSoon = statement(
  'qjr_pending_due_soon',
  `
SELECT EXISTS (
  SELECT 1 FROM queue_job WHERE state = 'pending'
    AND (eta IS NULL OR eta <= (now() AT TIME ZONE 'utc') + make_interval(secs => $1))
) AS due`,
);
