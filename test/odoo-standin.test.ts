// The Odoo stand-in behaves like queue_job 17.0's /queue_job/runjob controller, against the real database.
// Jobs are marked `enqueued` directly here: claiming them is the runner's business, tested elsewhere.
import { Agent, get as httpGet } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, type TestDatabase } from './support/db.ts';
import {
  createChain,
  createJob,
  createJobs,
  getJob,
  type JobOptions,
  markEnqueued,
  type QueueJobRow,
} from './support/jobs.ts';
import { DEFAULT_KNOBS, type OdooStandin, startOdoo } from './support/odoo.ts';

let db: TestDatabase;
let odoo: OdooStandin;
const extra: Array<{ close(): Promise<void> }> = [];

beforeAll(async () => {
  db = await createDatabase(inject('adminDatabaseUrl'));
  odoo = await startOdoo({ databases: { [db.name]: db.url }, workers: 8 });
});

afterEach(() => {
  // Every test starts from the default knobs and an awake server.
  odoo.configure(DEFAULT_KNOBS);
  return odoo.wake();
});

afterAll(async () => {
  for (const thing of extra.splice(0)) await thing.close();
  await odoo?.close();
  await db?.close();
});

interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** GET on a fresh connection (no keep-alive surprises); rejects with the socket error. */
function get(
  url: string,
  options: { auth?: string; agent?: Agent; database?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (options.auth) headers.authorization = `Basic ${Buffer.from(options.auth).toString('base64')}`;
    if (options.database !== undefined) headers['x-odoo-database'] = options.database;
    const req = httpGet(url, { agent: options.agent ?? false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

const runjob = (uuid: string, options: { auth?: string; db?: string; agent?: Agent } = {}) =>
  get(odoo.runjobUrl(options.db ?? db.name, uuid), options);

/** A job as the runner leaves it after a claim: enqueued, date_enqueued set. */
async function enqueuedJob(options: JobOptions = {}): Promise<QueueJobRow> {
  const job = await createJob(db.pool, options);
  expect(await markEnqueued(db.pool, [job.uuid])).toEqual([job.uuid]);
  return (await getJob(db.pool, job.uuid)) as QueueJobRow;
}

async function row(uuid: string): Promise<QueueJobRow> {
  const job = await getJob(db.pool, uuid);
  if (!job) throw new Error(`no job ${uuid}`);
  return job;
}

/** The database's clock, epoch seconds. */
async function databaseClock(): Promise<number> {
  const { rows } = await db.pool.query<{ s: number }>(
    'SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8 AS s',
  );
  return rows[0]?.s ?? Number.NaN;
}

/** The job's eta (stored naive UTC), epoch seconds. */
async function etaAt(uuid: string): Promise<number> {
  const { rows } = await db.pool.query<{ s: number }>(
    "SELECT EXTRACT(EPOCH FROM eta AT TIME ZONE 'utc')::float8 AS s FROM queue_job WHERE uuid = $1",
    [uuid],
  );
  return rows[0]?.s ?? Number.NaN;
}

async function connectionsNamed(
  applicationName: string,
): Promise<Array<{ datname: string; backend_start: Date }>> {
  const { rows } = await db.pool.query(
    'SELECT datname, backend_start FROM pg_stat_activity WHERE application_name = $1',
    [applicationName],
  );
  return rows;
}

async function until<T>(
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('/web/health', () => {
  it('answers 200 {"status": "pass"} without auth', async () => {
    odoo.configure({ auth: { user: 'u', password: 'p' } });
    const answer = await get(`${odoo.url}/web/health`);
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(JSON.parse(answer.body)).toEqual({ status: 'pass' });
  });
});

describe('database connections, as Odoo opens them', () => {
  it('connects as odoo-<pid> only when serving a request for a database: not at start, not for /web/health', async () => {
    const other = await createDatabase(inject('adminDatabaseUrl'));
    const fresh = await startOdoo({ databases: { [other.name]: other.url }, workers: 1 });
    const named = async (pattern: string) =>
      (
        await other.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE $1`,
          [pattern],
        )
      ).rows[0]!.n;
    try {
      expect(await named('odoo-%')).toBe(0);
      expect((await get(`${fresh.url}/web/health`)).status).toBe(200);
      expect(await named('odoo-%')).toBe(0);
      // A job that does not exist: the controller's SELECT runs in that database, finds nothing, 200.
      expect((await get(fresh.runjobUrl(other.name, 'no-such-job'))).status).toBe(200);
      expect(fresh.requests.at(-1)).toMatchObject({ taken: false, status: 200 });
      expect(await named(`odoo-${fresh.workerPids()[0]}`)).toBe(1);
    } finally {
      await fresh.close();
    }
    // Odoo's ODOO_PGAPPNAME renames its connections: the stand-in's applicationName plays it.
    const renamed = await startOdoo({
      databases: { [other.name]: other.url },
      workers: 1,
      applicationName: 'erp-{pid}-x',
    });
    try {
      expect((await get(renamed.runjobUrl(other.name, 'no-such-job'))).status).toBe(200);
      expect(await named(`erp-${renamed.workerPids()[0]}-x`)).toBe(1);
      expect(await named('odoo-%')).toBe(0);
    } finally {
      await renamed.close();
      await other.close();
    }
  });
});

describe('runjob: what is taken', () => {
  it('runs an enqueued job to done: 200, empty body, Odoo columns', async () => {
    const job = await enqueuedJob();
    const answer = await runjob(job.uuid);
    expect(answer).toMatchObject({ status: 200, body: '' });
    const done = await row(job.uuid);
    expect(done).toMatchObject({
      state: 'done',
      retry: 1,
      result: null,
      exc_name: null,
      exc_info: null,
      date_enqueued: job.date_enqueued,
    });
    expect(odoo.workerPids()).toContain(done.worker_pid);
    expect(done.date_started).not.toBeNull();
    expect(done.date_done?.getTime()).toBeGreaterThanOrEqual(done.date_started?.getTime() ?? Infinity);
    const elapsed = ((done.date_done?.getTime() ?? 0) - (done.date_started?.getTime() ?? 0)) / 1000;
    expect(done.exec_time).toBeCloseTo(elapsed, 2);
    expect(odoo.takenCount(job.uuid)).toBe(1);
    const record = odoo.requests.find((r) => r.uuid === job.uuid);
    expect(record).toMatchObject({
      status: 200,
      taken: true,
      outcome: 'done',
      finalState: 'done',
      authOk: true,
    });
  });

  it('leaves jobs in any other state untouched: 200, empty body, recorded as not taken', async () => {
    const states = ['pending', 'wait_dependencies', 'started', 'done', 'failed', 'cancelled'] as const;
    const jobs = await Promise.all(states.map((state) => createJob(db.pool, { state })));
    const notTakenBefore = odoo.notTakenCount();
    for (const job of jobs) {
      const answer = await runjob(job.uuid);
      expect(answer).toMatchObject({ status: 200, body: '' });
      expect(await row(job.uuid)).toEqual(job);
      expect(odoo.takenCount(job.uuid)).toBe(0);
    }
    const unknown = '0b5f7e1c-1111-4222-8333-444455556666';
    expect(await runjob(unknown)).toMatchObject({ status: 200, body: '' });
    expect(odoo.notTakenCount()).toBe(notTakenBefore + states.length + 1);
    expect(odoo.requests.find((r) => r.uuid === unknown)).toMatchObject({ status: 200, taken: false });
  });

  it('commits started (date_started, worker_pid) before running, visible from another connection', async () => {
    const job = await enqueuedJob();
    odoo.configure({ durationMs: (j) => (j.uuid === job.uuid ? 600 : 0) });
    const answer = runjob(job.uuid);
    await odoo.waitFor(() => odoo.running() >= 1, 5000, 'the job to start');
    const started = await row(job.uuid);
    const record = odoo.requests.find((r) => r.uuid === job.uuid);
    expect(started).toMatchObject({ state: 'started', worker_pid: record?.workerPid, retry: 0 });
    expect(started.date_started).not.toBeNull();
    // The worker's own connection is the liveness signal: named odoo-<pid>, older than the job's start.
    const connections = await connectionsNamed(`odoo-${started.worker_pid}`);
    expect(connections).toHaveLength(1);
    expect(connections[0]?.datname).toBe(db.name);
    expect(connections[0]?.backend_start.getTime()).toBeLessThanOrEqual(started.date_started?.getTime() ?? 0);
    expect((await answer).status).toBe(200);
    expect((await row(job.uuid)).state).toBe('done');
  });

  it('waits on a row lock like FOR UPDATE does, then finds the job no longer enqueued', async () => {
    const job = await enqueuedJob();
    const holder = await db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM queue_job WHERE uuid = $1 FOR UPDATE', [job.uuid]);
      let answered = false;
      const answer = runjob(job.uuid).then((a) => {
        answered = true;
        return a;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(answered).toBe(false);
      await holder.query("UPDATE queue_job SET state = 'pending', date_enqueued = NULL WHERE uuid = $1", [
        job.uuid,
      ]);
      await holder.query('COMMIT');
      expect(await answer).toMatchObject({ status: 200, body: '' });
      expect((await row(job.uuid)).state).toBe('pending');
      expect(odoo.takenCount(job.uuid)).toBe(0);
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      holder.release();
    }
  });

  it('takes a job once when duplicate requests race for it', async () => {
    const job = await enqueuedJob();
    odoo.configure({ durationMs: 200 });
    const answers = await Promise.all(Array.from({ length: 10 }, () => runjob(job.uuid)));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    expect(odoo.takenCount(job.uuid)).toBe(1);
    const records = odoo.requests.filter((r) => r.uuid === job.uuid);
    expect(records.filter((r) => r.taken === false)).toHaveLength(9);
    expect(await row(job.uuid)).toMatchObject({ state: 'done', retry: 1 });
  });
});

describe('runjob: how a job ends', () => {
  it('failed: 500 with an HTML page, exc_* filled, started columns kept', async () => {
    const job = await enqueuedJob();
    odoo.configure({ outcome: () => 'failed' });
    const answer = await runjob(job.uuid);
    expect(answer.status).toBe(500);
    expect(answer.headers['content-type']).toMatch(/^text\/html/);
    expect(answer.body).toContain('Internal Server Error');
    const failed = await row(job.uuid);
    expect(failed).toMatchObject({
      state: 'failed',
      retry: 1,
      exc_name: 'odoo.addons.queue_job.exception.JobError',
      exc_message: 'Job failed',
      date_done: null,
      exec_time: null,
    });
    expect(failed.exc_info).toMatch(/^Traceback \(most recent call last\):/);
    expect(failed.exc_info).toContain('odoo.addons.queue_job.exception.JobError: Job failed');
    expect(failed.worker_pid).not.toBeNull();
    expect(failed.date_started).not.toBeNull();
    expect(odoo.requests.find((r) => r.uuid === job.uuid)).toMatchObject({
      status: 500,
      finalState: 'failed',
    });
  });

  it('retryable: 200, back to pending later, retry kept, dates and worker_pid cleared', async () => {
    const job = await enqueuedJob({ retry: 2 });
    odoo.configure({ outcome: () => 'retryable', retryDelaySeconds: 30 });
    const before = await databaseClock();
    const answer = await runjob(job.uuid);
    const after = await databaseClock();
    expect(answer).toMatchObject({ status: 200, body: '' });
    expect(await row(job.uuid)).toMatchObject({
      state: 'pending',
      retry: 3,
      result: 'Must be retried later',
      exc_name: null,
      exc_info: null,
      worker_pid: null,
      date_enqueued: null,
      date_started: null,
      date_done: null,
      exec_time: null,
    });
    // 30 s after the moment it was postponed, which lies between the two readings of the clock.
    const eta = await etaAt(job.uuid);
    expect(eta - 30).toBeGreaterThanOrEqual(before);
    expect(eta - 30).toBeLessThanOrEqual(after);
  });

  it('retryable on the last try: failed with "Max. retries (N) reached", 500', async () => {
    const job = await enqueuedJob({ maxRetries: 3, retry: 2 });
    odoo.configure({ outcome: () => 'retryable' });
    const answer = await runjob(job.uuid);
    expect(answer.status).toBe(500);
    expect(await row(job.uuid)).toMatchObject({
      state: 'failed',
      retry: 3,
      exc_name: 'odoo.addons.queue_job.exception.FailedJobError',
      exc_message: 'Max. retries (3) reached: Must be retried later',
    });
  });

  it('retryable with max_retries 0 retries forever', async () => {
    const job = await enqueuedJob({ maxRetries: 0, retry: 40 });
    odoo.configure({ outcome: () => 'retryable' });
    expect((await runjob(job.uuid)).status).toBe(200);
    expect(await row(job.uuid)).toMatchObject({ state: 'pending', retry: 41 });
  });

  it('gives the outcome hook the job as loaded, before the try counter moves', async () => {
    const job = await enqueuedJob({ channel: 'hook', name: 'Hooked', retry: 1, maxRetries: 7 });
    const seen: unknown[] = [];
    odoo.configure({
      outcome: (j) => {
        seen.push(j);
        return 'done';
      },
    });
    await runjob(job.uuid);
    expect(seen).toEqual([
      {
        db: db.name,
        id: job.id,
        uuid: job.uuid,
        name: 'Hooked',
        channel: 'root.hook',
        priority: 10,
        retry: 1,
        max_retries: 7,
      },
    ]);
  });

  it('draws failures and retryable errors from a seeded RNG, reproducibly', async () => {
    const outcomes: string[][] = [];
    for (let round = 0; round < 2; round++) {
      const standin = await startOdoo({
        databases: { [db.name]: db.url },
        workers: 1,
        seed: 42,
        failureRate: 0.3,
        retryableRate: 0.3,
      });
      try {
        const seen: string[] = [];
        for (let i = 0; i < 20; i++) {
          const job = await enqueuedJob({ channel: 'rng', maxRetries: 0 });
          await get(standin.runjobUrl(db.name, job.uuid));
          seen.push((await row(job.uuid)).state);
        }
        outcomes.push(seen);
      } finally {
        await standin.close();
      }
    }
    expect(outcomes[0]).toEqual(outcomes[1]);
    expect(new Set(outcomes[0])).toEqual(new Set(['done', 'failed', 'pending']));
  });

  it('crash: the row stays started, the worker pid and its connection are gone, a new pid replaces it', async () => {
    const job = await enqueuedJob();
    const pidsBefore = odoo.workerPids();
    odoo.crashNext(1);
    await expect(runjob(job.uuid)).rejects.toThrow(/socket hang up|ECONNRESET/);
    const crashed = await row(job.uuid);
    expect(crashed).toMatchObject({ state: 'started', retry: 0, date_done: null });
    const pid = crashed.worker_pid as number;
    expect(pidsBefore).toContain(pid);
    expect(odoo.workerPids()).not.toContain(pid);
    expect(odoo.workerPids()).toHaveLength(pidsBefore.length);
    const gone = await until(
      () => connectionsNamed(`odoo-${pid}`),
      (rows) => rows.length === 0,
    );
    expect(gone).toEqual([]);
    expect(odoo.requests.find((r) => r.uuid === job.uuid)).toMatchObject({
      status: 0,
      outcome: 'crash',
      finalState: 'started',
    });
    expect(odoo.running()).toBe(0);

    // The outcome hook can crash a job too; the pool keeps serving.
    const next = await enqueuedJob();
    odoo.configure({ outcome: (j) => (j.uuid === next.uuid ? 'crash' : 'done') });
    await expect(runjob(next.uuid)).rejects.toThrow();
    expect((await row(next.uuid)).state).toBe('started');
    const after = await enqueuedJob();
    expect((await runjob(after.uuid)).status).toBe(200);
    expect((await row(after.uuid)).state).toBe('done');
  });
});

describe('runjob: dependencies', () => {
  it('releases the next job of a chain when its parent is done, not before', async () => {
    const [a, b, c] = (await createChain(db.pool, 3)) as [string, string, string];
    await markEnqueued(db.pool, [a]);
    expect((await runjob(a)).status).toBe(200);
    expect((await Promise.all([a, b, c].map(row))).map((j) => j.state)).toEqual([
      'done',
      'pending',
      'wait_dependencies',
    ]);
  });

  it('releases a child only when all its parents are done; a failed parent releases nothing', async () => {
    const p1 = await enqueuedJob();
    const p2 = await enqueuedJob();
    const child = await createJob(db.pool, { dependsOn: [p1.uuid, p2.uuid] });
    expect(child.state).toBe('wait_dependencies');
    await runjob(p1.uuid);
    expect((await row(child.uuid)).state).toBe('wait_dependencies');
    await runjob(p2.uuid);
    expect((await row(child.uuid)).state).toBe('pending');

    const failing = await enqueuedJob();
    const orphan = await createJob(db.pool, { dependsOn: [failing.uuid] });
    odoo.configure({ outcome: () => 'failed' });
    expect((await runjob(failing.uuid)).status).toBe(500);
    expect((await row(orphan.uuid)).state).toBe('wait_dependencies');
  });
});

describe('front door: auth, databases, sleep', () => {
  it('requires basic auth when configured: 401 + WWW-Authenticate, job untouched', async () => {
    const job = await enqueuedJob();
    odoo.configure({ auth: { user: 'runner', password: 's3cret' } });
    const missing = await runjob(job.uuid);
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toMatch(/^Basic/);
    expect((await runjob(job.uuid, { auth: 'runner:wrong' })).status).toBe(401);
    expect((await row(job.uuid)).state).toBe('enqueued');
    expect(odoo.requests.filter((r) => r.uuid === job.uuid).map((r) => r.authOk)).toEqual([false, false]);
    expect((await runjob(job.uuid, { auth: 'runner:s3cret' })).status).toBe(200);
    expect((await row(job.uuid)).state).toBe('done');
  });

  it('answers a POST with the CSRF 400, job untouched (runjob is GET)', async () => {
    const job = await enqueuedJob();
    const answer = await fetch(odoo.runjobUrl(db.name, job.uuid), { method: 'POST' });
    expect(answer.status).toBe(400);
    expect(await answer.text()).toContain('CSRF');
    expect((await row(job.uuid)).state).toBe('enqueued');
  });

  it('18.0: keeps a lock row per started job, held while it runs, freed when its worker dies', async () => {
    await odoo.setSeries('18.0');
    try {
      expect(
        (await db.pool.query("SELECT latest_version FROM ir_module_module WHERE name = 'queue_job'")).rows[0],
      ).toEqual({ latest_version: '18.0.2.2.0' });
      const lockable = async (id: number) =>
        (
          await db.pool.query(
            `WITH l AS (SELECT id FROM queue_job_lock WHERE queue_job_id = $1 FOR NO KEY UPDATE SKIP LOCKED)
             SELECT count(*)::int AS n FROM l`,
            [id],
          )
        ).rows[0].n as number;
      const running = await enqueuedJob();
      odoo.configure({ durationMs: 400 });
      const answer = runjob(running.uuid);
      await odoo.waitFor(() => odoo.running() === 1);
      expect((await row(running.uuid)).state).toBe('started');
      expect(await lockable(running.id)).toBe(0);
      expect((await answer).status).toBe(200);
      expect((await row(running.uuid)).state).toBe('done');
      expect(await lockable(running.id)).toBe(1);

      odoo.configure({ durationMs: 0 });
      const dying = await enqueuedJob();
      odoo.crashNext(1);
      await runjob(dying.uuid).catch(() => undefined);
      await odoo.waitFor(() => odoo.counts().inFlight === 0);
      expect((await row(dying.uuid)).state).toBe('started');
      // the dead worker's transaction is gone: its lock row can be taken, upstream's "found dead"
      let free = 0;
      for (let i = 0; i < 100 && free === 0; i++) {
        free = await lockable(dying.id);
        if (free === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(free).toBe(1);
    } finally {
      await odoo.setSeries('17.0');
    }
    expect((await db.pool.query("SELECT to_regclass('queue_job_lock') AS t")).rows[0].t).toBeNull();
  });

  it('answers 500 for a database it will not select (as a multi-database Odoo), and serves several', async () => {
    const job = await enqueuedJob();
    expect((await runjob(job.uuid, { db: 'not_a_db' })).status).toBe(500);
    expect((await row(job.uuid)).state).toBe('enqueued');

    const other = await createDatabase(inject('adminDatabaseUrl'));
    const both = await startOdoo({ databases: { [db.name]: db.url, [other.name]: other.url }, workers: 1 });
    try {
      const there = await createJob(other.pool);
      await markEnqueued(other.pool, [there.uuid]);
      expect((await get(both.runjobUrl(other.name, there.uuid))).status).toBe(200);
      expect((await get(both.runjobUrl(db.name, job.uuid))).status).toBe(200);
      expect((await getJob(other.pool, there.uuid))?.state).toBe('done');
      expect((await row(job.uuid)).state).toBe('done');
      // One worker, one pid, one connection per database, like Odoo's per-process pool.
      const [pid] = both.workerPids();
      const connections = await connectionsNamed(`odoo-${pid}`);
      expect(connections.map((c) => c.datname).sort()).toEqual([db.name, other.name].sort());
    } finally {
      await both.close();
      await other.close();
    }
  });

  it('19.0 routes by X-Odoo-Database and ignores ?db=; earlier series read ?db=', async () => {
    const other = await createDatabase(inject('adminDatabaseUrl'));
    const both = await startOdoo({
      databases: { [db.name]: db.url, [other.name]: other.url },
      workers: 1,
      series: '19.0',
    });
    try {
      const job = await enqueuedJob();
      // ?db= alone selects nothing on a multi-database 19.0: 500, the row untouched
      expect((await get(both.runjobUrl(db.name, job.uuid))).status).toBe(500);
      expect((await row(job.uuid)).state).toBe('enqueued');
      // the header wins over a wrong ?db=
      expect((await get(both.runjobUrl('wrong', job.uuid), { database: db.name })).status).toBe(200);
      expect((await row(job.uuid)).state).toBe('done');
      expect(both.requests.at(-1)).toMatchObject({ db: db.name, databaseHeader: db.name, taken: true });
      const unknown = await enqueuedJob();
      expect((await get(both.runjobUrl(db.name, unknown.uuid), { database: 'nope' })).status).toBe(500);
      expect((await row(unknown.uuid)).state).toBe('enqueued');
      // 17.0: the header is ignored, ?db= decides
      await both.setSeries('17.0');
      expect((await get(both.runjobUrl(db.name, unknown.uuid), { database: 'nope' })).status).toBe(200);
      expect((await row(unknown.uuid)).state).toBe('done');
    } finally {
      await both.close();
      await other.close();
    }
    // one database: 19.0 without the header uses it (Odoo's monodb)
    await odoo.setSeries('19.0');
    try {
      const mono = await enqueuedJob();
      expect((await runjob(mono.uuid, { db: 'ignored' })).status).toBe(200);
      expect((await row(mono.uuid)).state).toBe('done');
    } finally {
      await odoo.setSeries('17.0');
    }
  });
  it("sleep('502') answers 502 to everything until wake(), without touching jobs", async () => {
    const job = await enqueuedJob();
    await odoo.sleep('502');
    expect((await get(`${odoo.url}/web/health`)).status).toBe(502);
    expect((await runjob(job.uuid)).status).toBe(502);
    expect((await row(job.uuid)).state).toBe('enqueued');
    await odoo.wake();
    expect((await runjob(job.uuid)).status).toBe(200);
    expect((await row(job.uuid)).state).toBe('done');
  });

  it('wakeOnHealth: a health request while asleep is answered 502, then the server is awake', async () => {
    odoo.configure({ wakeOnHealth: true });
    await odoo.sleep('502');
    const job = await enqueuedJob();
    expect((await runjob(job.uuid)).status).toBe(502);
    expect(odoo.asleep).toBe('502');
    expect((await get(`${odoo.url}/web/health`)).status).toBe(502);
    expect(odoo.asleep).toBe(false);
    expect((await get(`${odoo.url}/web/health`)).status).toBe(200);
    expect((await runjob(job.uuid)).status).toBe(200);
  });

  it("sleep('refuse') refuses connections, wake() listens again on the same port", async () => {
    const keepAlive = new Agent({ keepAlive: true });
    try {
      expect((await get(`${odoo.url}/web/health`, { agent: keepAlive })).status).toBe(200);
      const port = odoo.port;
      await odoo.sleep('refuse');
      await expect(get(`${odoo.url}/web/health`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      // A connection kept alive from before the sleep does not survive it either.
      await expect(get(`${odoo.url}/web/health`, { agent: keepAlive })).rejects.toThrow();
      await odoo.wake();
      expect(odoo.port).toBe(port);
      expect((await get(`${odoo.url}/web/health`)).status).toBe(200);
    } finally {
      keepAlive.destroy();
    }
  });
});

describe('workers and recorder', () => {
  it('counts running jobs per channel hierarchically and keeps the peaks', async () => {
    odoo.resetPeaks();
    const channels = ['root.a.b', 'root.a.b', 'a', 'root.c', ''];
    const jobs = await Promise.all(channels.map((channel) => enqueuedJob({ channel })));
    odoo.configure({ durationMs: 400 });
    const answers = Promise.all(jobs.map((job) => runjob(job.uuid)));
    await odoo.waitFor(() => odoo.running() === 5, 5000, 'five jobs running');
    expect(odoo.running('root.a')).toBe(3);
    expect(odoo.running('a.b')).toBe(2);
    await answers;
    expect(odoo.running()).toBe(0);
    expect(odoo.peakRunning('root.a.b')).toBe(2);
    expect(odoo.peakRunning('a.b')).toBe(2);
    expect(odoo.peakRunning('root.a')).toBe(3);
    expect(odoo.peakRunning('a')).toBe(3);
    expect(odoo.peakRunning('root.c')).toBe(1);
    expect(odoo.peakRunning('root')).toBe(5);
    expect(odoo.peakRunning()).toBe(5);
    expect(odoo.peakRunning('root.zzz')).toBe(0);
  });

  it('runs at most `workers` jobs at once; other requests wait for a free worker', async () => {
    const small = await startOdoo({ databases: { [db.name]: db.url }, workers: 2, durationMs: 150 });
    try {
      const jobs = await Promise.all(Array.from({ length: 6 }, () => enqueuedJob({ channel: 'narrow' })));
      const answers = await Promise.all(jobs.map((job) => get(small.runjobUrl(db.name, job.uuid))));
      expect(answers.map((a) => a.status)).toEqual(Array(6).fill(200));
      expect(small.peakRunning()).toBe(2);
      expect(new Set(small.requests.map((r) => r.workerPid)).size).toBe(2);
      expect(small.counts()).toMatchObject({ requests: 6, taken: 6, done: 6, inFlight: 0 });
    } finally {
      await small.close();
    }
  });

  it('waitForFinished resolves on the Nth finished job and times out with a clear error', async () => {
    const jobs = await Promise.all(Array.from({ length: 3 }, () => enqueuedJob()));
    const finished = () => {
      const { done, failed, postponed, crashed } = odoo.counts();
      return done + failed + postponed + crashed;
    };
    const before = finished();
    odoo.configure({ durationMs: 100 });
    const answers = Promise.all(jobs.map((job) => runjob(job.uuid)));
    await odoo.waitForFinished(before + 3, 5000);
    expect(finished()).toBe(before + 3);
    expect((await Promise.all(jobs.map((job) => row(job.uuid)))).map((j) => j.state)).toEqual([
      'done',
      'done',
      'done',
    ]);
    await answers;
    await expect(odoo.waitFor(() => false, 50, 'the impossible')).rejects.toThrow(/the impossible.*50 ms/);
  });

  it('latencyMs delays every answer', async () => {
    odoo.configure({ latencyMs: 200 });
    const started = Date.now();
    expect((await get(`${odoo.url}/web/health`)).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('close() ends in-flight jobs, workers and connections, and stops listening', async () => {
    const standin = await startOdoo({ databases: { [db.name]: db.url }, workers: 2, durationMs: 10_000 });
    const job = await enqueuedJob();
    const answer = get(standin.runjobUrl(db.name, job.uuid));
    answer.catch(() => {});
    await standin.waitFor(() => standin.running() === 1, 5000, 'the job to start');
    const pid = (await row(job.uuid)).worker_pid as number;
    expect(await connectionsNamed(`odoo-${pid}`)).toHaveLength(1);
    await standin.close({ graceMs: 100 });
    await expect(answer).rejects.toThrow();
    // close() cut the 10 s job short instead of waiting for it: the row was left as a dead worker leaves it.
    expect((await row(job.uuid)).state).toBe('started');
    expect(
      await until(
        () => connectionsNamed(`odoo-${pid}`),
        (rows) => rows.length === 0,
      ),
    ).toEqual([]);
    await expect(get(`${standin.url}/web/health`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('close() does not hang on a worker waiting for a row lock', async () => {
    const standin = await startOdoo({ databases: { [db.name]: db.url }, workers: 1 });
    const job = await enqueuedJob();
    const holder = await db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM queue_job WHERE uuid = $1 FOR UPDATE', [job.uuid]);
      const answer = get(standin.runjobUrl(db.name, job.uuid));
      answer.catch(() => {});
      const [pid] = standin.workerPids();
      const waiting = await until(
        async () =>
          (
            await db.pool.query('SELECT wait_event_type FROM pg_stat_activity WHERE application_name = $1', [
              `odoo-${pid}`,
            ])
          ).rows[0]?.wait_event_type,
        (type) => type === 'Lock',
      );
      expect(waiting).toBe('Lock');
      // close() returns while the lock is still held: a close that waited for the lock would hang here.
      await standin.close({ graceMs: 100 });
      await expect(answer).rejects.toThrow();
      await holder.query('COMMIT');
      expect(
        await until(
          () => connectionsNamed(`odoo-${pid}`),
          (rows) => rows.length === 0,
        ),
      ).toEqual([]);
      expect((await row(job.uuid)).state).toBe('enqueued');
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      holder.release();
    }
  });

  it('pushes thousands of no-op jobs through quickly', async () => {
    const fast = await startOdoo({ databases: { [db.name]: db.url }, workers: 32 });
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    try {
      const jobs = await createJobs(db.pool, 2000, { channel: 'bulk' });
      expect(await markEnqueued(db.pool, jobs)).toHaveLength(2000);
      const started = Date.now();
      const statuses = await Promise.all(jobs.map((uuid) => get(fast.runjobUrl(db.name, uuid), { agent })));
      const seconds = (Date.now() - started) / 1000;
      console.log(
        `[odoo-standin] ${jobs.length} no-op jobs in ${seconds.toFixed(2)} s = ${Math.round(jobs.length / seconds)} jobs/s`,
      );
      expect(statuses.every((a) => a.status === 200)).toBe(true);
      expect(fast.counts()).toMatchObject({ taken: 2000, done: 2000 });
      const { rows } = await db.pool.query(
        "SELECT state, count(*)::int AS n FROM queue_job WHERE channel = 'bulk' GROUP BY state",
      );
      expect(rows).toEqual([{ state: 'done', n: 2000 }]);
    } finally {
      agent.destroy();
      await fast.close();
    }
  });
});
