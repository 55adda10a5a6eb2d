// The four HTTP functions over real HTTP, through the functions-framework's own server, against real
// PostgreSQL and the Odoo stand-in: results, status codes, and every client error (never a 500).
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createDatabase, setWebBaseUrl, type TestDatabase } from './support/db.ts';
import { call, type Functions, postJson, startFunctions, useEnv } from './support/functions.ts';
import { createJob, createJobs, getJob, jobStates, stateCounts } from './support/jobs.ts';
import { type OdooStandin, startOdoo } from './support/odoo.ts';

let db: TestDatabase;
let odoo: OdooStandin;
let fns: Functions;
let logs: string[] = [];

beforeAll(async () => {
  db = await createDatabase(inject('adminDatabaseUrl'));
  odoo = await startOdoo({ databases: { [db.name]: db.url } });
  await setWebBaseUrl(db.pool, odoo.url);
  fns = await startFunctions();
});

afterAll(async () => {
  await fns?.close();
  await odoo?.close();
  await db?.close();
  useEnv({});
});

/** The single-target environment of these tests, plus `extra`. */
function env(extra: Record<string, string> = {}) {
  logs = [];
  useEnv(
    {
      DATABASE_URL: db.url,
      ODOO_QUEUE_JOB_CHANNELS: 'root:4',
      LOG_LEVEL: 'debug',
      RUNNER_ALLOW_UNAUTHENTICATED: 'true',
      ...extra,
    },
    (line) => logs.push(line),
  );
}

function logEntries(): Record<string, unknown>[] {
  return logs.map((line) => JSON.parse(line) as Record<string, unknown>);
}

beforeEach(async () => {
  await db.pool.query('DELETE FROM queue_job');
  odoo.configure({ durationMs: 0, failureRate: 0, retryableRate: 0, outcome: undefined, auth: undefined });
  await odoo.wake();
  env();
});

describe('tick', () => {
  it('serves the target and answers the TickSummary (POST {} as Cloud Scheduler sends it, and GET)', async () => {
    await createJobs(db.pool, 6);
    const answer = await postJson(fns.url('tick'), {});
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ ok: true, windowSeconds: 0, failing: [] });
    expect(answer.json.targets[0]).toMatchObject({ target: 'default', ok: true, claimed: 4, dispatched: 4 });
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    const again = await call(fns.url('tick'));
    expect(again.status).toBe(200);
    expect(again.json.targets[0].claimed).toBe(2);
    expect(await stateCounts(db.pool)).toEqual({ done: 6 });
  });

  it('takes ?window= as an override capped by TICK_WINDOW_SECONDS, and refuses a malformed one', async () => {
    env({ TICK_WINDOW_SECONDS: '1' });
    const capped = await call(fns.url('tick', 'window=30'));
    expect(capped.status).toBe(200);
    expect(capped.json.windowSeconds).toBe(1);
    const shorter = await call(fns.url('tick', 'window=0'));
    expect(shorter.json.windowSeconds).toBe(0);
    for (const bad of ['window=abc', 'window=-1', 'window=1&window=2']) {
      const answer = await call(fns.url('tick', bad));
      expect(answer.status, bad).toBe(400);
      expect(answer.json.error).toMatch(/window/);
    }
  });

  it('answers 503 naming the targets not served', async () => {
    await createJobs(db.pool, 1);
    env({
      QUEUE_JOB_TARGETS: JSON.stringify([
        { name: 'good', databaseUrl: db.url },
        { name: 'broken', databaseUrl: 'postgres://nobody@127.0.0.1:1/none', odooUrl: odoo.url },
      ]),
    });
    const answer = await postJson(fns.url('tick'), {});
    expect(answer.status).toBe(503);
    expect(answer.json.error).toBe('targets not served: broken');
    expect(answer.json.failing).toEqual(['broken']);
    expect(answer.json.targets.find((t: { target: string }) => t.target === 'good')).toMatchObject({
      ok: true,
      dispatched: 1,
    });
  });

  it('serves only the targets named in ?targets= (one Scheduler job per group of a large fleet)', async () => {
    await createJobs(db.pool, 1);
    env({
      QUEUE_JOB_TARGETS: JSON.stringify([
        { name: 'good', databaseUrl: db.url },
        { name: 'broken', databaseUrl: 'postgres://nobody@127.0.0.1:1/none', odooUrl: odoo.url },
      ]),
    });
    const answer = await postJson(fns.url('tick', 'targets=good'), {});
    expect(answer.status).toBe(200);
    expect(answer.json.targets.map((t: { target: string }) => t.target)).toEqual(['good']);
    expect((await postJson(fns.url('tick', 'targets=good,nope'), {})).status).toBe(404);
    expect((await postJson(fns.url('tick', 'targets=,'), {})).status).toBe(400);
  });

  it('two concurrent deliveries of one schedule (same X-CloudScheduler-ScheduleTime) send nothing twice', async () => {
    env({ TICK_WINDOW_SECONDS: '2', ODOO_QUEUE_JOB_CHANNELS: 'root:3' });
    odoo.configure({ durationMs: 40 });
    const uuids = await createJobs(db.pool, 30);
    const before = odoo.requests.length;
    const headers = {
      'X-CloudScheduler-ScheduleTime': '2030-01-01T00:00:00Z',
      'X-CloudScheduler-JobName': 'qjr-tick',
    };
    const [a, b] = await Promise.all([
      postJson(fns.url('tick'), {}, headers),
      postJson(fns.url('tick'), {}, headers),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    await odoo.waitFor(() => odoo.counts().inFlight === 0, 5000);
    const together = a.json.targets[0].claimed + b.json.targets[0].claimed;
    // The delivery is identifiable in the logs.
    const started = logEntries().filter((entry) => entry.event === 'tick_start');
    // What the two 2 s windows got through depends on the machine's load; what is left, later ticks send.
    for (let round = 0; round < 30 && (await stateCounts(db.pool)).done !== 30; round++) {
      await postJson(fns.url('tick', 'window=0'), {});
      await odoo.waitFor(() => odoo.counts().inFlight === 0, 5000);
    }
    const sent = odoo.requests.slice(before).filter((r) => r.path === '/queue_job/runjob');
    const perUuid = new Map<string, number>();
    for (const request of sent) perUuid.set(request.uuid!, (perUuid.get(request.uuid!) ?? 0) + 1);
    expect([...perUuid.values()].every((n) => n === 1)).toBe(true);
    expect(perUuid.size).toBe(30);
    expect(uuids.every((uuid) => odoo.takenCount(uuid) === 1)).toBe(true);
    // Both deliveries served the window (more than one capacity's worth between them).
    expect(together).toBeGreaterThan(3);
    expect(odoo.peakRunning('root')).toBeLessThanOrEqual(3);
    expect(started).toHaveLength(2);
    expect(started.every((entry) => entry.scheduleTime === '2030-01-01T00:00:00Z')).toBe(true);
  });

  it('refuses other methods with 405 and an Allow header', async () => {
    const answer = await call(fns.url('tick'), { method: 'PUT' });
    expect(answer.status).toBe(405);
    expect(answer.headers.get('allow')).toBe('GET, POST');
  });
});

describe('dispatch', () => {
  it('runs named jobs and says what became of each', async () => {
    const pending = await createJob(db.pool, { channel: 'root' });
    const done = await createJob(db.pool, { state: 'done' });
    const answer = await postJson(fns.url('dispatch'), { uuids: [pending.uuid, done.uuid, 'no-such-uuid'] });
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ target: 'default', ok: true, claimed: 1, dispatched: 1 });
    expect(answer.json.results).toEqual([
      { uuid: pending.uuid, channel: 'root', result: 'dispatched', outcome: 'accepted' },
      { uuid: done.uuid, channel: 'root', result: 'not_pending', state: 'done' },
      { uuid: 'no-such-uuid', channel: null, result: 'not_found' },
    ]);
    expect((await getJob(db.pool, pending.uuid))?.state).toBe('done');
  });

  it('runs a named job now even when its eta is in the future ("run now")', async () => {
    const later = await createJob(db.pool, { eta: 3600 });
    const answer = await postJson(fns.url('dispatch'), { uuids: [later.uuid] });
    expect(answer.json.results[0]).toMatchObject({ result: 'dispatched', outcome: 'accepted' });
    expect((await getJob(db.pool, later.uuid))?.state).toBe('done');
  });

  it('keeps the channel rules: capacity counts running jobs, and ignoreCapacity overrides them', async () => {
    env({ ODOO_QUEUE_JOB_CHANNELS: 'root:4,root.night:1' });
    await createJob(db.pool, { channel: 'root.night', state: 'started' });
    const a = await createJob(db.pool, { channel: 'root.night' });
    const b = await createJob(db.pool, { channel: 'root.night.sub' });
    const full = await postJson(fns.url('dispatch'), { uuids: [a.uuid, b.uuid] });
    expect(full.status).toBe(200);
    expect(full.json.results).toEqual([
      {
        uuid: a.uuid,
        channel: 'root.night',
        result: 'capacity_full',
        blockedBy: 'root.night',
        reason: 'capacity',
      },
      {
        uuid: b.uuid,
        channel: 'root.night.sub',
        result: 'capacity_full',
        blockedBy: 'root.night',
        reason: 'capacity',
      },
    ]);
    expect(await jobStates(db.pool, [a.uuid, b.uuid])).toEqual({ [a.uuid]: 'pending', [b.uuid]: 'pending' });

    const forced = await postJson(fns.url('dispatch'), { uuids: [a.uuid, b.uuid], ignoreCapacity: true });
    expect(forced.json.counts).toEqual({ dispatched: 2 });
    expect(await jobStates(db.pool, [a.uuid, b.uuid])).toEqual({ [a.uuid]: 'done', [b.uuid]: 'done' });
  });

  it('answers 404 naming a channel that is neither configured nor holds jobs; runs one that holds jobs', async () => {
    env({ ODOO_QUEUE_JOB_CHANNELS: 'root:4,root.night:1' });
    const typo = await postJson(fns.url('dispatch'), { channel: 'root.nigth' });
    expect(typo.status).toBe(404);
    expect(typo.json).toMatchObject({ channel: 'root.nigth', channels: ['root', 'root.night'] });
    expect(typo.json.error).toMatch(/unknown channel "root.nigth".*neither configured .* nor holding jobs/);
    // Configured but empty: nothing to do, not an error.
    expect((await postJson(fns.url('dispatch'), { channel: 'night' })).status).toBe(200);
    // Not configured, but jobs say it exists (its parent's rules apply, as upstream).
    const job = await createJob(db.pool, { channel: 'root.night.sub' });
    const held = await postJson(fns.url('dispatch'), { channel: 'root.night.sub' });
    expect(held.status).toBe(200);
    expect(held.json.results).toEqual([expect.objectContaining({ uuid: job.uuid, result: 'dispatched' })]);
  });

  it("runs a channel's due jobs (sub-channels included) under its capacity, up to limit", async () => {
    env({ ODOO_QUEUE_JOB_CHANNELS: 'root:8,root.night:2' });
    const due = await createJobs(db.pool, 5, { channel: ['root.night', 'root.night.sub'] });
    const future = await createJob(db.pool, { channel: 'root.night', eta: 3600 });
    const other = await createJob(db.pool, { channel: 'root.day' });
    odoo.configure({ durationMs: 300 });
    const answer = await postJson(fns.url('dispatch'), { channel: 'night', limit: 4 });
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ channel: 'root.night', limit: 4, claimed: 2 });
    expect(answer.json.results.map((r: { uuid: string }) => r.uuid)).toEqual(due.slice(0, 4));
    expect(answer.json.counts).toEqual({ dispatched: 2, capacity_full: 2 });
    await odoo.waitFor(() => odoo.counts().inFlight === 0, 5000);
    const states = await jobStates(db.pool);
    expect(states[future.uuid]).toBe('pending');
    expect(states[other.uuid]).toBe('pending');
    expect(due.filter((uuid) => states[uuid] === 'done')).toEqual(due.slice(0, 2));
  });

  it('puts jobs back and answers 503 when Odoo refuses (wrong basic auth), naming the setting', async () => {
    odoo.configure({ auth: { user: 'proxy', password: 'right-password' } });
    env({ ODOO_QUEUE_JOB_HTTP_AUTH_USER: 'proxy', ODOO_QUEUE_JOB_HTTP_AUTH_PASSWORD: 'wrong-password' });
    const job = await createJob(db.pool);
    const answer = await postJson(fns.url('dispatch'), { uuids: [job.uuid] });
    expect(answer.status).toBe(503);
    expect(answer.json.ok).toBe(false);
    expect(answer.json.results[0]).toMatchObject({ result: 'misconfigured', reverted: true });
    expect(answer.json.error).toMatch(/ODOO_QUEUE_JOB_HTTP_AUTH_USER/);
    expect((await getJob(db.pool, job.uuid))?.state).toBe('pending');
  });

  it('concurrent manual runs and ticks never send a job twice, and capacity holds', async () => {
    env({ ODOO_QUEUE_JOB_CHANNELS: 'root:3' });
    odoo.configure({ durationMs: 60 });
    odoo.resetPeaks();
    const uuids = await createJobs(db.pool, 20);
    const before = odoo.requests.length;
    const answers = await Promise.all([
      ...Array.from({ length: 4 }, () => postJson(fns.url('dispatch'), { channel: 'root' })),
      ...Array.from({ length: 4 }, () => postJson(fns.url('dispatch'), { uuids })),
      postJson(fns.url('tick', 'window=0'), {}),
      postJson(fns.url('tick', 'window=0'), {}),
    ]);
    // A pass that found the baton held past lock_timeout reports it; none may be a client error or a 500.
    for (const answer of answers) expect([200, 503]).toContain(answer.status);
    await odoo.waitFor(() => odoo.counts().inFlight === 0, 5000);
    const sent = odoo.requests.slice(before).filter((r) => r.path === '/queue_job/runjob');
    expect(new Set(sent.map((r) => r.uuid)).size).toBe(sent.length);
    expect(sent.length).toBeGreaterThanOrEqual(3);
    expect(odoo.peakRunning('root')).toBeLessThanOrEqual(3);
  });

  it('refuses a paused target with 409 and touches nothing', async () => {
    env({ ODOO_QUEUE_JOB_CHANNELS: 'root:0' });
    const job = await createJob(db.pool);
    const answer = await postJson(fns.url('dispatch'), { uuids: [job.uuid] });
    expect(answer.status).toBe(409);
    expect(answer.json).toMatchObject({ ok: false, refused: 'paused' });
    expect((await getJob(db.pool, job.uuid))?.state).toBe('pending');
  });

  describe('client errors (never a 500)', () => {
    it('400 with zod issues for a malformed request', async () => {
      const answer = await postJson(fns.url('dispatch'), { uuids: 'abc', limit: 0, extra: true });
      expect(answer.status).toBe(400);
      expect(answer.json.error).toMatch(/^invalid request/);
      const paths = answer.json.issues.map((issue: { path: string }) => issue.path).sort();
      expect(paths).toEqual(['', 'limit', 'uuids']);
      for (const issue of answer.json.issues)
        expect(issue).toEqual(expect.objectContaining({ code: expect.any(String) }));
    });

    it('400 for both or neither of uuids and channel, and for limit with uuids', async () => {
      const both = await postJson(fns.url('dispatch'), { uuids: ['a'], channel: 'root' });
      const neither = await postJson(fns.url('dispatch'), { limit: 3 });
      const limited = await postJson(fns.url('dispatch'), { uuids: ['a'], limit: 3 });
      for (const answer of [both, neither]) {
        expect(answer.status).toBe(400);
        expect(answer.json.issues).toContainEqual({
          path: '',
          message: 'give exactly one of uuids or channel',
          code: 'custom',
        });
      }
      expect(limited.status).toBe(400);
      expect(limited.json.issues[0]).toMatchObject({ path: 'limit' });
    });

    it('400 for a body that is not JSON under application/json, as JSON', async () => {
      const answer = await postJson(fns.url('dispatch'), '{"uuids": [');
      expect(answer.status).toBe(400);
      expect(answer.json).toEqual({ error: 'the request body is not valid JSON' });
      const empty = await call(fns.url('dispatch'), { method: 'POST' });
      expect(empty.status).toBe(400);
      expect(empty.json.error).toBe('a JSON body is required');
    });

    it('415 for another media type', async () => {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream']) {
        const answer = await call(fns.url('dispatch'), {
          method: 'POST',
          headers: { 'content-type': type },
          body: 'uuids=a',
        });
        expect(answer.status, type).toBe(415);
        expect(answer.json.error).toMatch(/application\/json/);
      }
    });

    it('413 for a body over 64 KiB', async () => {
      const answer = await postJson(fns.url('dispatch'), {
        uuids: Array.from({ length: 3000 }, (_, i) => `uuid-${i}-xxxxxxxxxxxxxxxx`),
      });
      expect(answer.status).toBe(413);
    });

    it('404 for an unknown target; 400 when several are configured and none is named', async () => {
      const unknown = await postJson(fns.url('dispatch'), { target: 'nope', channel: 'root' });
      expect(unknown.status).toBe(404);
      expect(unknown.json).toMatchObject({ target: 'nope', targets: ['default'] });
      env({
        QUEUE_JOB_TARGETS: JSON.stringify([
          { name: 'a', databaseUrl: db.url },
          { name: 'b', databaseUrl: db.url },
        ]),
      });
      const unnamed = await postJson(fns.url('dispatch'), { channel: 'root' });
      expect(unnamed.status).toBe(400);
      expect(unnamed.json.issues[0]).toMatchObject({ path: 'target' });
      const named = await postJson(fns.url('dispatch'), { channel: 'root', target: 'b' });
      expect(named.status).toBe(200);
    });

    it('405 for GET', async () => {
      const answer = await call(fns.url('dispatch'));
      expect(answer.status).toBe(405);
      expect(answer.headers.get('allow')).toBe('POST');
    });
  });
});

describe('status', () => {
  it('reports per configured channel, raw channels mapped under them, running vs capacity', async () => {
    env({ ODOO_QUEUE_JOB_CHANNELS: 'root:4,root.a:2', ENQUEUED_TIMEOUT_SECONDS: '5' });
    await createJobs(db.pool, 3, { channel: 'root.a.x', dateCreated: new Date(Date.now() - 90_000) });
    await createJob(db.pool, { channel: 'a', state: 'started' });
    await createJob(db.pool, { channel: 'root.b', state: 'failed' });
    await createJob(db.pool, { channel: 'root.b', eta: 600 });
    await createJob(db.pool, { channel: 'root', state: 'done' });
    const lost = await createJob(db.pool, { channel: 'root.a' });
    await db.pool.query(
      `UPDATE queue_job SET state = 'enqueued', date_enqueued = now() AT TIME ZONE 'utc' - interval '1 minute' WHERE uuid = $1`,
      [lost.uuid],
    );
    const answer = await call(fns.url('status'));
    expect(answer.status).toBe(200);
    const [target] = answer.json.targets;
    expect(target).toMatchObject({ target: 'default', ok: true, upstreamRunner: false, paused: false });
    expect(['connections', 'none', 'lock_table']).toContain(target.liveness);
    const byName = Object.fromEntries(target.channels.map((c: { channel: string }) => [c.channel, c]));
    expect(Object.keys(byName)).toEqual(['root', 'root.a']);
    expect(byName['root.a']).toMatchObject({
      capacity: 2,
      running: 2,
      jobs: { wait_dependencies: 0, pending: 3, enqueued: 1, started: 1, failed: 0 },
      rawChannels: ['root.a', 'root.a.x'],
      deadCandidates: { enqueued: 1, started: 0 },
    });
    expect(byName['root.a'].oldestPendingAgeSeconds).toBeGreaterThanOrEqual(85);
    expect(byName.root).toMatchObject({
      capacity: 4,
      running: 2,
      jobs: { pending: 1, failed: 1, enqueued: 0, started: 0 },
      rawChannels: ['root.b'],
    });
    expect(Date.parse(byName.root.nextEta) - Date.now()).toBeGreaterThan(500_000);
    expect(target.deadCandidates).toMatchObject({ enqueued: 1 });
  });

  it('counts a started job whose worker is gone as a dead candidate, without touching it', async () => {
    // A job run by the stand-in leaves its worker connected as odoo-<pid>: the connection signal works.
    await createJobs(db.pool, 1);
    await postJson(fns.url('tick'), {});
    const orphan = await createJob(db.pool, { channel: 'root' });
    await db.pool.query(
      `UPDATE queue_job SET state = 'started', worker_pid = 999999,
         date_started = now() AT TIME ZONE 'utc' - interval '1 hour' WHERE uuid = $1`,
      [orphan.uuid],
    );
    const answer = await call(fns.url('status'));
    const [target] = answer.json.targets;
    expect(target.liveness).toBe('connections');
    expect(target.deadCandidates).toEqual({ enqueued: 0, started: 1, unjudged: 0 });
    expect((await getJob(db.pool, orphan.uuid))?.state).toBe('started');
    // Without a usable signal (no connection matches ODOO_PGAPPNAME), started jobs are only reported.
    env({ ODOO_PGAPPNAME: 'not-odoo-{pid}' });
    const blind = (await call(fns.url('status'))).json.targets[0];
    expect(blind.liveness).toBe('none');
    expect(blind.deadCandidates).toEqual({ enqueued: 0, started: 0, unjudged: 1 });
  });

  it('answers POST as GET (gcloud functions call sends POST)', async () => {
    await createJobs(db.pool, 2);
    const answer = await postJson(fns.url('status'), {});
    expect(answer.status).toBe(200);
    expect(answer.json.targets[0].target).toBe('default');
    const prometheus = await call(fns.url('status', 'format=prometheus'), { method: 'POST' });
    expect(prometheus.text).toMatch(/^# HELP /m);
  });

  it('speaks Prometheus with ?format=prometheus', async () => {
    await createJobs(db.pool, 2);
    const answer = await call(fns.url('status', 'format=prometheus'));
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(answer.text).toContain('# HELP queue_job_jobs ');
    expect(answer.text).toContain('# TYPE queue_job_jobs gauge');
    expect(answer.text).toContain('queue_job_jobs{target="default",channel="root",state="pending"} 2');
    expect(answer.text).toContain('queue_job_capacity{target="default",channel="root"} 4');
    expect(answer.text).toContain('queue_job_target_up{target="default"} 1');
    for (const line of answer.text.trim().split('\n')) {
      expect(line).toMatch(/^(# (HELP|TYPE) queue_job_\w+ .+|queue_job_\w+\{[^}]*\} (-?\d+(\.\d+)?|\+Inf))$/);
    }
  });

  it('keeps a scrape alive when a database is unreachable; JSON says 503', async () => {
    env({
      QUEUE_JOB_TARGETS: JSON.stringify([
        { name: 'good', databaseUrl: db.url },
        { name: 'broken', databaseUrl: 'postgres://nobody@127.0.0.1:1/none' },
      ]),
    });
    const json = await call(fns.url('status'));
    expect(json.status).toBe(503);
    expect(json.json.targets.find((t: { target: string }) => t.target === 'broken')).toMatchObject({
      ok: false,
      error: expect.stringMatching(/ECONNREFUSED|connect/),
      database: '127.0.0.1:1/none',
    });
    const text = await call(fns.url('status', 'format=prometheus'));
    expect(text.status).toBe(200);
    expect(text.text).toContain('queue_job_target_up{target="broken"} 0');
    expect(text.text).toContain('queue_job_target_up{target="good"} 1');
    const one = await call(fns.url('status', 'target=good'));
    expect(one.status).toBe(200);
    expect(one.json.targets).toHaveLength(1);
  });

  it('404 for an unknown target, 400 for an unknown format', async () => {
    expect((await call(fns.url('status', 'target=nope'))).status).toBe(404);
    expect((await call(fns.url('status', 'format=xml'))).status).toBe(400);
  });
});

describe('keepalive', () => {
  it("pings each target's /web/health and reports status and latency", async () => {
    const before = odoo.requests.length;
    const answer = await call(fns.url('keepalive'));
    expect(answer.status).toBe(200);
    expect(answer.json.ok).toBe(true);
    expect(answer.json.results).toEqual([
      expect.objectContaining({
        url: `${odoo.url}/web/health`,
        target: 'default',
        reason: 'target',
        ok: true,
        status: 200,
        latencyMs: expect.any(Number),
      }),
    ]);
    expect(odoo.requests.slice(before).map((r) => r.path)).toEqual(['/web/health']);
  });

  it('answers 503 when Odoo is asleep behind its proxy (502) or refuses connections', async () => {
    await odoo.sleep('502');
    const asleep = await postJson(fns.url('keepalive'), {});
    expect(asleep.status).toBe(503);
    expect(asleep.json.results[0]).toMatchObject({ ok: false, status: 502 });
    env({ KEEPALIVE_URLS: 'http://127.0.0.1:1/web/health' });
    const refused = await call(fns.url('keepalive'));
    expect(refused.status).toBe(503);
    expect(refused.json.results[0]).toMatchObject({ ok: false, status: null, reason: 'configured' });
    expect(refused.json.results[0].error).toMatch(/ECONNREFUSED|connect/);
  });

  it('with KEEPALIVE_URLS, also wakes a target that has a job due within 5 minutes', async () => {
    const other = await startOdoo({ databases: {} });
    try {
      env({ KEEPALIVE_URLS: `${other.url}/web/health` });
      const quiet = await call(fns.url('keepalive'));
      expect(quiet.json.results.map((r: { url: string }) => r.url)).toEqual([`${other.url}/web/health`]);
      await createJob(db.pool, { eta: 120 });
      const due = await call(fns.url('keepalive'));
      expect(due.status).toBe(200);
      expect(due.json.results).toEqual([
        expect.objectContaining({ url: `${other.url}/web/health`, reason: 'configured', ok: true }),
        expect.objectContaining({
          url: `${odoo.url}/web/health`,
          reason: 'due_soon',
          target: 'default',
          ok: true,
        }),
      ]);
    } finally {
      await other.close();
    }
  });
});

describe('configuration and auth', () => {
  it('answers 500 naming the variable when the configuration is invalid', async () => {
    useEnv({ ODOO_URL: 'http://odoo', RUNNER_ALLOW_UNAUTHENTICATED: 'true' });
    for (const name of ['tick', 'keepalive', 'status'] as const) {
      const answer = await call(fns.url(name));
      expect(answer.status).toBe(500);
      expect(answer.json).toMatchObject({ variable: 'DATABASE_URL' });
      expect(answer.json.error).toMatch(/^configuration error: DATABASE_URL: is required/);
    }
  });

  it('requires Authorization: Bearer <RUNNER_AUTH_TOKEN> on every function when it is set', async () => {
    const token = 'runner-token-0123456789';
    env({ RUNNER_AUTH_TOKEN: token });
    const requests = [
      { name: 'tick', init: { method: 'POST', body: '{}' } },
      { name: 'keepalive', init: { method: 'GET' } },
      { name: 'status', init: { method: 'GET' } },
      { name: 'dispatch', init: { method: 'POST', body: '{"channel": "root"}' } },
    ] as const;
    for (const { name, init } of requests) {
      for (const authorization of [
        undefined,
        'Bearer wrong-token',
        `Basic ${token}`,
        `Bearer ${token}x`,
        'Bearer ',
      ]) {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (authorization) headers.authorization = authorization;
        const denied = await call(fns.url(name), { ...init, headers });
        expect(denied.status, `${name} with ${authorization}`).toBe(401);
        expect(denied.headers.get('www-authenticate')).toMatch(/^Bearer/);
        expect(denied.text).not.toContain(token);
      }
      const allowed = await call(fns.url(name), {
        ...init,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      });
      expect(allowed.status, name).toBe(200);
    }
  });

  it('refuses to serve without RUNNER_AUTH_TOKEN unless RUNNER_ALLOW_UNAUTHENTICATED=true, and says so once', async () => {
    await createJobs(db.pool, 2);
    env({ RUNNER_ALLOW_UNAUTHENTICATED: '' });
    for (const name of ['tick', 'keepalive', 'status', 'dispatch'] as const) {
      const answer = await postJson(fns.url(name), { channel: 'root' });
      expect(answer.status, name).toBe(500);
      expect(answer.json, name).toMatchObject({ variable: 'RUNNER_AUTH_TOKEN' });
      expect(answer.json.error).toMatch(/RUNNER_ALLOW_UNAUTHENTICATED=true/);
    }
    expect(await stateCounts(db.pool)).toEqual({ pending: 2 });
    const policyLines = logEntries().filter((entry) => entry.event === 'auth_policy');
    expect(policyLines).toHaveLength(1);
    expect(policyLines[0]).toMatchObject({ severity: 'ERROR', policy: 'refused' });

    env({ RUNNER_ALLOW_UNAUTHENTICATED: 'yes' });
    const unclear = await call(fns.url('status'));
    expect(unclear.status).toBe(500);
    expect(unclear.json).toMatchObject({ variable: 'RUNNER_ALLOW_UNAUTHENTICATED' });

    env({ RUNNER_ALLOW_UNAUTHENTICATED: 'true' });
    expect((await postJson(fns.url('tick'), {})).status).toBe(200);
    expect((await call(fns.url('status'))).status).toBe(200);
    expect(await stateCounts(db.pool)).toEqual({ done: 2 });
    const open = logEntries().filter((entry) => entry.event === 'auth_policy');
    expect(open).toEqual([expect.objectContaining({ severity: 'WARNING', policy: 'open' })]);
  });

  it('warns once per instance when QUEUE_JOB_TARGETS and DATABASE_URL are both set', async () => {
    env({ QUEUE_JOB_TARGETS: JSON.stringify([{ name: 'only', databaseUrl: db.url }]) });
    expect((await call(fns.url('status'))).status).toBe(200);
    expect((await call(fns.url('status'))).status).toBe(200);
    const warnings = logEntries().filter((entry) => entry.event === 'setting_warning');
    expect(warnings).toEqual([expect.objectContaining({ setting: 'DATABASE_URL', severity: 'WARNING' })]);
  });

  it('checks the token before anything else, a broken configuration included', async () => {
    useEnv({ RUNNER_AUTH_TOKEN: 'runner-token-0123456789' });
    const answer = await call(fns.url('status'));
    expect(answer.status).toBe(401);
  });
});
