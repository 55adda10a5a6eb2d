// The test harness itself: the fixture schema is Odoo 17's, and jobs are created as with_delay() does.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, setWebBaseUrl, type TestDatabase } from './support/db.ts';
import {
  createChain,
  createJob,
  createJobs,
  getJob,
  jobStates,
  markEnqueued,
  type Queryable,
  stateCounts,
} from './support/jobs.ts';

let db: TestDatabase;

beforeAll(async () => {
  db = await createDatabase(inject('adminDatabaseUrl'));
});

afterAll(async () => {
  await db?.close();
});

/** Collects NOTIFY payloads on channel queue_job, on a dedicated connection. */
async function listen(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const payloads: string[] = [];
  const waiters: Array<() => void> = [];
  client.on('notification', (message) => {
    if (message.channel === 'queue_job') payloads.push(message.payload ?? '');
    for (const wake of waiters.splice(0)) wake();
  });
  await client.query('LISTEN queue_job');
  return {
    payloads,
    /** Resolves once `payload` has been received (notifications arrive in commit order). */
    async until(payload: string, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!payloads.includes(payload)) {
        if (Date.now() > deadline) throw new Error(`no NOTIFY ${payload}; got ${payloads.join(', ')}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
    },
    close: () => client.end(),
  };
}

describe('odoo17 schema fixture', () => {
  it('has every queue_job column with Odoo 17 types', async () => {
    const { rows } = await db.pool.query<{ column_name: string; data_type: string; is_nullable: string }>(
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns
       WHERE table_schema = 'public' AND table_name = 'queue_job' ORDER BY column_name`,
    );
    const columns = Object.fromEntries(
      rows.map((r) => [r.column_name, `${r.data_type}${r.is_nullable === 'NO' ? '!' : ''}`]),
    );
    const ts = 'timestamp without time zone';
    const text = 'text';
    const varchar = 'character varying';
    expect(columns).toEqual({
      id: 'integer!',
      user_id: 'integer',
      company_id: 'integer',
      priority: 'integer',
      retry: 'integer',
      max_retries: 'integer',
      job_function_id: 'integer',
      worker_pid: 'integer',
      uuid: `${varchar}!`,
      graph_uuid: varchar,
      name: varchar,
      model_name: varchar,
      method_name: varchar,
      func_string: varchar,
      state: `${varchar}!`,
      exc_name: varchar,
      exc_message: varchar,
      channel_method_name: varchar,
      channel: varchar,
      identity_key: varchar,
      records: text,
      dependencies: text,
      args: text,
      kwargs: text,
      exc_info: text,
      result: text,
      date_created: ts,
      date_started: ts,
      date_enqueued: ts,
      date_done: ts,
      date_cancelled: ts,
      eta: ts,
      exec_time: 'double precision',
    });
  });

  it('has the channel and function tables, sequences and log-access columns', async () => {
    const { rows } = await db.pool.query<{ table_name: string; columns: string[] }>(
      `SELECT table_name, array_agg(column_name::text ORDER BY column_name) AS columns
       FROM information_schema.columns
       WHERE table_schema = 'public' AND table_name IN ('queue_job_channel', 'queue_job_function')
       GROUP BY table_name ORDER BY table_name`,
    );
    expect(rows).toEqual([
      {
        table_name: 'queue_job_channel',
        columns: [
          'complete_name',
          'create_date',
          'create_uid',
          'id',
          'name',
          'parent_id',
          'removal_interval',
          'write_date',
          'write_uid',
        ],
      },
      {
        table_name: 'queue_job_function',
        columns: [
          'channel',
          'channel_id',
          'id',
          'method',
          'model_id',
          'name',
          'related_action',
          'retry_pattern',
        ],
      },
    ]);
    const defaults = await db.pool.query<{ table_name: string; column_default: string }>(
      `SELECT table_name, column_default FROM information_schema.columns
       WHERE table_schema = 'public' AND column_name = 'id'
         AND table_name IN ('queue_job', 'queue_job_channel', 'queue_job_function') ORDER BY table_name`,
    );
    expect(defaults.rows.map((r) => r.column_default)).toEqual([
      "nextval('queue_job_id_seq'::regclass)",
      "nextval('queue_job_channel_id_seq'::regclass)",
      "nextval('queue_job_function_id_seq'::regclass)",
    ]);
  });

  it('has Odoo 17 indexes, the 17.0 identity-key partial index included', async () => {
    const { rows } = await db.pool.query<{ indexname: string; indexdef: string }>(
      `SELECT indexname, indexdef FROM pg_indexes
       WHERE schemaname = 'public' AND tablename LIKE 'queue_job%' ORDER BY indexname`,
    );
    expect(rows.map((r) => r.indexname)).toEqual([
      'queue_job__channel_index',
      'queue_job__company_id_index',
      'queue_job__graph_uuid_index',
      'queue_job__state_index',
      'queue_job__uuid_index',
      'queue_job_channel_name_uniq',
      'queue_job_channel_pkey',
      'queue_job_function__name_index',
      'queue_job_function_pkey',
      'queue_job_identity_key_state_partial_index',
      'queue_job_pkey',
    ]);
    const partial = rows.find((r) => r.indexname === 'queue_job_identity_key_state_partial_index')?.indexdef;
    // 17.0 leaves wait_dependencies out of the partial index (18.0 adds it).
    expect(partial).toContain("'pending'");
    expect(partial).toContain("'enqueued'");
    expect(partial).not.toContain('wait_dependencies');
    expect(partial).toContain('identity_key IS NOT NULL');
  });

  it('has the foreign keys Odoo creates, onto stub core tables', async () => {
    const { rows } = await db.pool.query<{ conname: string; def: string }>(
      `SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
       WHERE contype = 'f' AND conrelid::regclass::text LIKE 'queue_job%' ORDER BY conname`,
    );
    expect(Object.fromEntries(rows.map((r) => [r.conname, r.def]))).toEqual({
      queue_job_channel_create_uid_fkey:
        'FOREIGN KEY (create_uid) REFERENCES res_users(id) ON DELETE SET NULL',
      queue_job_channel_parent_id_fkey:
        'FOREIGN KEY (parent_id) REFERENCES queue_job_channel(id) ON DELETE RESTRICT',
      queue_job_channel_write_uid_fkey: 'FOREIGN KEY (write_uid) REFERENCES res_users(id) ON DELETE SET NULL',
      queue_job_company_id_fkey: 'FOREIGN KEY (company_id) REFERENCES res_company(id) ON DELETE SET NULL',
      queue_job_function_channel_id_fkey:
        'FOREIGN KEY (channel_id) REFERENCES queue_job_channel(id) ON DELETE RESTRICT',
      queue_job_function_model_id_fkey: 'FOREIGN KEY (model_id) REFERENCES ir_model(id) ON DELETE CASCADE',
      queue_job_job_function_id_fkey:
        'FOREIGN KEY (job_function_id) REFERENCES queue_job_function(id) ON DELETE SET NULL',
      queue_job_user_id_fkey: 'FOREIGN KEY (user_id) REFERENCES res_users(id) ON DELETE SET NULL',
    });
  });

  it("passes upstream's runner checks: module installed, exactly 3 trigger rows", async () => {
    const module = await db.pool.query(
      "SELECT state, latest_version FROM ir_module_module WHERE name = 'queue_job'",
    );
    expect(module.rows).toEqual([{ state: 'installed', latest_version: '17.0.1.0.5' }]);
    const triggers = await db.pool.query<{ event_manipulation: string; action_timing: string }>(
      `SELECT event_manipulation, action_timing FROM information_schema.triggers
       WHERE event_object_table = 'queue_job' AND trigger_name = 'queue_job_notify' ORDER BY event_manipulation`,
    );
    expect(triggers.rows).toEqual([
      { event_manipulation: 'DELETE', action_timing: 'AFTER' },
      { event_manipulation: 'INSERT', action_timing: 'AFTER' },
      { event_manipulation: 'UPDATE', action_timing: 'AFTER' },
    ]);
    const lockTable = await db.pool.query(
      "SELECT to_regclass('queue_job_lock') AS lock, to_regclass('queue_job_locks') AS locks",
    );
    expect(lockTable.rows[0]).toEqual({ lock: null, locks: null });
  });

  it('has the root channel row and web.base.url', async () => {
    const channels = await db.pool.query(
      'SELECT name, complete_name, removal_interval, parent_id FROM queue_job_channel',
    );
    expect(channels.rows).toEqual([
      { name: 'root', complete_name: 'root', removal_interval: 30, parent_id: null },
    ]);
    const param = await db.pool.query("SELECT value FROM ir_config_parameter WHERE key = 'web.base.url'");
    expect(param.rows).toEqual([{ value: 'http://localhost:8069' }]);
    const other = await createDatabase(inject('adminDatabaseUrl'));
    try {
      await setWebBaseUrl(other.pool, 'http://127.0.0.1:1234');
      const changed = await other.pool.query(
        "SELECT value FROM ir_config_parameter WHERE key = 'web.base.url'",
      );
      expect(changed.rows).toEqual([{ value: 'http://127.0.0.1:1234' }]);
    } finally {
      await other.close();
    }
  });

  it('leaves sessions with the normal search_path', async () => {
    const { rows } = await db.pool.query<{ search_path: string }>('SHOW search_path');
    expect(rows[0]?.search_path).toBe('"$user", public');
  });

  it('NOTIFYs the uuid on insert, update, and delete of a job not done', async () => {
    const listener = await listen(db.url);
    try {
      const job = await createJob(db.pool);
      await listener.until(job.uuid);
      expect(listener.payloads).toEqual([job.uuid]);

      await db.pool.query('UPDATE queue_job SET priority = 5 WHERE uuid = $1', [job.uuid]);
      await db.pool.query('UPDATE queue_job SET priority = 6 WHERE uuid = $1', [job.uuid]);
      const marker = await createJob(db.pool);
      await listener.until(marker.uuid);
      expect(listener.payloads).toEqual([job.uuid, job.uuid, job.uuid, marker.uuid]);

      listener.payloads.length = 0;
      await db.pool.query('DELETE FROM queue_job WHERE uuid = $1', [job.uuid]);
      await listener.until(job.uuid);
      expect(listener.payloads).toEqual([job.uuid]);
    } finally {
      await listener.close();
    }
  });

  it('does not NOTIFY on delete of a done job', async () => {
    const done = await createJob(db.pool, { state: 'done' });
    const listener = await listen(db.url);
    try {
      await db.pool.query('DELETE FROM queue_job WHERE uuid = $1', [done.uuid]);
      const marker = await createJob(db.pool);
      // Notifications come in commit order: once the marker's is here, a delete notify would be too.
      await listener.until(marker.uuid);
      expect(listener.payloads).toEqual([marker.uuid]);
    } finally {
      await listener.close();
    }
  });
});

describe('job helpers', () => {
  it('createJob stores what with_delay() stores', async () => {
    const before = Date.now();
    const job = await createJob(db.pool);
    const after = Date.now();
    expect(job.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(job).toMatchObject({
      state: 'pending',
      priority: 10,
      channel: 'root',
      retry: 0,
      max_retries: 5,
      user_id: 2,
      company_id: 1,
      name: 'queue.job._test_job',
      model_name: 'queue.job',
      method_name: '_test_job',
      func_string: 'queue.job()._test_job()',
      channel_method_name: '<queue.job>._test_job',
      args: '[]',
      kwargs: '{}',
      dependencies: '{"depends_on": [], "reverse_depends_on": []}',
      graph_uuid: null,
      identity_key: null,
      eta: null,
      date_enqueued: null,
      date_started: null,
      date_done: null,
      date_cancelled: null,
      exc_name: null,
      exc_message: null,
      exc_info: null,
      result: null,
      worker_pid: null,
      exec_time: null,
      job_function_id: null,
    });
    expect(JSON.parse(job.records ?? '')).toEqual({
      _type: 'odoo_recordset',
      model: 'queue.job',
      ids: [],
      uid: 2,
      su: false,
      context: {},
    });
    // A true instant (read as UTC), within the call's window give or take clock granularity.
    expect(job.date_created?.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(job.date_created?.getTime()).toBeLessThanOrEqual(after + 1000);
    expect(await getJob(db.pool, job.uuid)).toEqual(job);
  });

  it('derives func_string and records from model, ids, args and kwargs', async () => {
    const job = await createJob(db.pool, {
      modelName: 'res.partner',
      methodName: 'write_note',
      recordIds: [7],
      args: ["it's", 2],
      kwargs: { force: true, note: null },
      name: 'Write a note',
      priority: 3,
      channel: 'root.sub',
      maxRetries: 0,
      identityKey: 'k1',
    });
    expect(job).toMatchObject({
      func_string: "res.partner(7,).write_note('it\\'s', 2, force=True, note=None)",
      channel_method_name: '<res.partner>.write_note',
      args: '["it\'s", 2]',
      kwargs: '{"force": true, "note": null}',
      name: 'Write a note',
      priority: 3,
      channel: 'root.sub',
      max_retries: 0,
      identity_key: 'k1',
    });
    expect(JSON.parse(job.records ?? '')).toMatchObject({ model: 'res.partner', ids: [7] });
  });

  it('stores eta and date_created as naive UTC whatever the session time zone', async () => {
    const newYork = new pg.Pool({
      connectionString: db.url,
      options: '-c TimeZone=America/New_York',
      max: 2,
    });
    try {
      const eta = new Date('2031-05-06T07:08:09.000Z');
      // Naive UTC read back as UTC lands between two readings of the database's own clock (a time
      // zone mistake would be hours off); no bound on how long the inserts took.
      const clock = async () =>
        (await db.pool.query<{ s: number }>('SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8 AS s'))
          .rows[0]!.s;
      const before = await clock();
      const fixed = await createJob(newYork, { eta });
      const later = await createJob(newYork, { eta: 90 });
      const after = await clock();
      const { rows } = await db.pool.query<{ eta: string; created: number; later_eta: number }>(
        `SELECT a.eta::text AS eta,
                EXTRACT(EPOCH FROM a.date_created AT TIME ZONE 'utc')::float8 AS created,
                EXTRACT(EPOCH FROM b.eta AT TIME ZONE 'utc')::float8 AS later_eta
         FROM queue_job a, queue_job b WHERE a.uuid = $1 AND b.uuid = $2`,
        [fixed.uuid, later.uuid],
      );
      expect(rows[0]?.eta).toBe('2031-05-06 07:08:09');
      expect(rows[0]!.created).toBeGreaterThanOrEqual(before);
      expect(rows[0]!.created).toBeLessThanOrEqual(after);
      expect(rows[0]!.later_eta - 90).toBeGreaterThanOrEqual(before);
      expect(rows[0]!.later_eta - 90).toBeLessThanOrEqual(after);
      // Read back through any pool, the instant is the one written.
      expect((await getJob(newYork, fixed.uuid))?.eta?.toISOString()).toBe(eta.toISOString());
      expect((await getJob(db.pool, fixed.uuid))?.eta?.toISOString()).toBe(eta.toISOString());
    } finally {
      await newYork.end();
    }
  });

  it('createJobs inserts 100k jobs in one statement, channel and priority cycling', async () => {
    // Counts the statements sent: one, whatever the machine's speed (a row-by-row insert sends 100k).
    let statements = 0;
    const counting: Queryable = {
      query: ((...args: Parameters<Queryable['query']>) => {
        statements += 1;
        return (db.pool.query as (...a: unknown[]) => unknown)(...args);
      }) as Queryable['query'],
    };
    const uuids = await createJobs(counting, 100_000, {
      channel: ['root.bulk.a', 'root.bulk.b'],
      priority: [5, 10, 15],
      name: 'Bulk',
    });
    expect(statements).toBe(1);
    expect(uuids).toHaveLength(100_000);
    expect(new Set(uuids).size).toBe(100_000);
    const { rows } = await db.pool.query(
      `SELECT channel, priority, count(*)::int AS n, min(state) AS state, max(max_retries) AS max_retries
       FROM queue_job WHERE channel LIKE 'root.bulk.%' GROUP BY channel, priority ORDER BY channel, priority`,
    );
    // Rows alternate channels and cycle priorities, so all 6 combinations appear equally.
    expect(rows).toHaveLength(6);
    for (const row of rows)
      expect(row).toMatchObject({ n: 16_667 - (row.n < 16_667 ? 1 : 0), state: 'pending' });
    const first = await getJob(db.pool, uuids[0] as string);
    expect(first).toMatchObject({
      name: 'Bulk #1',
      channel: 'root.bulk.a',
      priority: 5,
      retry: 0,
      max_retries: 5,
    });
    const second = await getJob(db.pool, uuids[1] as string);
    expect(second).toMatchObject({ name: 'Bulk #2', channel: 'root.bulk.b', priority: 10 });
    expect(second?.id).toBe((first?.id ?? 0) + 1);
  });

  it('createChain builds a dependency chain as chain().delay() does', async () => {
    const [a, b, c] = await createChain(db.pool, 3, { channel: 'root.chain' });
    const jobs = await Promise.all([a, b, c].map((uuid) => getJob(db.pool, uuid as string)));
    const graph = jobs[0]?.graph_uuid;
    expect(graph).toMatch(/^[0-9a-f-]{36}$/);
    expect(jobs.map((job) => job?.graph_uuid)).toEqual([graph, graph, graph]);
    expect(jobs.map((job) => job?.state)).toEqual(['pending', 'wait_dependencies', 'wait_dependencies']);
    expect(jobs.map((job) => JSON.parse(job?.dependencies ?? ''))).toEqual([
      { depends_on: [], reverse_depends_on: [b] },
      { depends_on: [a], reverse_depends_on: [c] },
      { depends_on: [b], reverse_depends_on: [] },
    ]);
    expect(jobs.map((job) => job?.channel)).toEqual(['root.chain', 'root.chain', 'root.chain']);
  });

  it('createJob with dependsOn waits for unfinished parents and links both ways', async () => {
    const parent = await createJob(db.pool);
    const doneParent = await createJob(db.pool, { state: 'done' });
    const child = await createJob(db.pool, { dependsOn: [parent.uuid, doneParent.uuid] });
    expect(child.state).toBe('wait_dependencies');
    expect(JSON.parse(child.dependencies ?? '')).toEqual({
      depends_on: [parent.uuid, doneParent.uuid],
      reverse_depends_on: [],
    });
    const reloaded = await getJob(db.pool, parent.uuid);
    expect(JSON.parse(reloaded?.dependencies ?? '')).toEqual({
      depends_on: [],
      reverse_depends_on: [child.uuid],
    });
    expect(reloaded?.graph_uuid).toBe(child.graph_uuid);
    expect(child.graph_uuid).not.toBeNull();

    const ready = await createJob(db.pool, { dependsOn: [doneParent.uuid] });
    expect(ready.state).toBe('pending');
    await expect(createJob(db.pool, { dependsOn: ['00000000-0000-4000-8000-000000000000'] })).rejects.toThrow(
      /unknown parent/,
    );
  });

  it('jobStates, stateCounts and markEnqueued read and claim like a runner', async () => {
    const pending = await createJob(db.pool, { channel: 'root.states' });
    const waiting = await createJob(db.pool, { channel: 'root.states', state: 'wait_dependencies' });
    expect(await markEnqueued(db.pool, [pending.uuid, waiting.uuid])).toEqual([pending.uuid]);
    expect(await jobStates(db.pool, [pending.uuid, waiting.uuid])).toEqual({
      [pending.uuid]: 'enqueued',
      [waiting.uuid]: 'wait_dependencies',
    });
    const enqueued = await getJob(db.pool, pending.uuid);
    expect(enqueued?.date_enqueued?.getMilliseconds()).toBe(0);
    expect(await getJob(db.pool, '00000000-0000-4000-8000-000000000000')).toBeUndefined();
    const counts = await stateCounts(db.pool);
    expect(counts.enqueued).toBeGreaterThanOrEqual(1);
    expect(counts.wait_dependencies).toBeGreaterThanOrEqual(1);
  });
});
