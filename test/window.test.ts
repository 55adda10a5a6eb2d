// The window: LISTEN wake-ups, eta and throttle timers, and the window's end, against real PostgreSQL
// and the Odoo stand-in. Assertions are on what the runner decided (which pass claimed which job, at
// what database time: test/support/claims.ts), never on wall-clock gaps or latencies, which a loaded
// machine stretches; the latency figures are only printed (the benchmark measures them).
import pg from 'pg';
import { beforeEach, describe, expect, it } from 'vitest';
import { POLL_MS } from '../shared/direct.ts';
import { silentLogger } from '../shared/log.ts';
import * as sql from '../shared/sql.ts';
import { tick } from '../shared/tick.ts';
import { claims, clearClaims, passesOf, recordClaims } from './support/claims.ts';
import { useStandin } from './support/fixture.ts';
import { createJob, createJobs, jobStates, stateCounts } from './support/jobs.ts';
import { testConfig } from './support/runner.ts';

const fixture = useStandin();

beforeEach(async () => {
  await recordClaims(fixture.db.pool);
  await clearClaims(fixture.db.pool);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** When the stand-in received the runjob request for `uuid` (printed figures only). */
function arrival(uuid: string): number | undefined {
  return fixture.odoo.requests.find((request) => request.uuid === uuid)?.at;
}

/** Backend pids of the runner's LISTEN connections to the test database. */
async function listenerPids(): Promise<number[]> {
  const { rows } = await fixture.db.pool.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity
     WHERE application_name = 'queue-job-runner' AND datname = current_database() AND query ILIKE 'LISTEN%'`,
  );
  return rows.map((row) => row.pid);
}

/** Waits (an event, not a bound: it only fails after 20 s) until the runner listens on a new connection. */
async function untilListening(not: readonly number[] = []): Promise<number> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const fresh = (await listenerPids()).find((pid) => !not.includes(pid));
    if (fresh !== undefined) return fresh;
    if (Date.now() > deadline) throw new Error('the runner never opened its LISTEN connection');
    await sleep(20);
  }
}

/** Waits until `uuids` were all claimed (an event; fails only after 20 s). */
async function untilClaimed(uuids: readonly string[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  while ((await claims(fixture.db.pool, uuids)).length < uuids.length) {
    if (Date.now() > deadline)
      throw new Error(`not all claimed: ${JSON.stringify(await claims(fixture.db.pool))}`);
    await sleep(20);
  }
}

describe('window', () => {
  it('wakes a pass for jobs committed while the window is open (LISTEN)', async () => {
    // A window no longer than the fallback poll: after the first pass, only a notification can wake a
    // pass inside it, so every job committed later and claimed in this tick was picked up by LISTEN.
    const config = testConfig({
      databaseUrl: fixture.db.url,
      channels: 'root:8',
      windowSeconds: POLL_MS / 1000,
    });
    const running = tick(config, silentLogger);
    await untilListening();
    const committed = new Map<string, number>();
    for (let i = 0; i < 20; i++) {
      const job = await createJob(fixture.db.pool);
      committed.set(job.uuid, Date.now());
      await sleep(25);
    }
    const summary = await running;
    expect(summary.ok).toBe(true);
    const latencies = [...committed].map(([uuid, at]) => (arrival(uuid) ?? Number.POSITIVE_INFINITY) - at);
    latencies.sort((a, b) => a - b);
    console.log(
      `window pickup over ${latencies.length} jobs: p50 ${percentile(latencies, 50)} ms, ` +
        `p99 ${percentile(latencies, 99)} ms, max ${latencies.at(-1)} ms (printed, not asserted)`,
    );
    expect(await stateCounts(fixture.db.pool)).toEqual({ done: 20 });
    const logged = await claims(fixture.db.pool);
    expect(logged.map((claim) => claim.uuid).sort()).toEqual([...committed.keys()].sort());
    // Claimed as they arrived, in passes that notifications woke (not one batch at the end).
    expect(passesOf(logged).length).toBeGreaterThanOrEqual(2);
    // Far fewer passes than the 5 s / 2 ms a busy loop would make: passes follow notifications.
    expect(summary.targets[0]?.passes).toBeLessThan(400);
  }, 30_000);

  it('sends an eta job once it is due, never before, woken by its eta', async () => {
    // A window shorter than the fallback poll: the pass that sends the job can only be woken by its eta.
    expect(POLL_MS).toBeGreaterThan(4000);
    const config = testConfig({ databaseUrl: fixture.db.url, windowSeconds: 4 });
    const running = tick(config, silentLogger);
    await untilListening();
    const job = await createJob(fixture.db.pool, { eta: 1.5 });
    const summary = await running;
    expect(summary.ok).toBe(true);
    // Compared in the database: the claiming pass's clock against the row's eta.
    const { rows } = await fixture.db.pool.query<{ after_eta_ms: number }>(
      `SELECT (extract(epoch FROM l.at - (j.eta AT TIME ZONE 'utc')) * 1000)::float8 AS after_eta_ms
       FROM test_claim_log l JOIN queue_job j ON j.uuid = l.uuid WHERE l.uuid = $1`,
      [job.uuid],
    );
    expect(rows).toHaveLength(1);
    console.log(
      `eta job claimed ${rows[0]!.after_eta_ms.toFixed(1)} ms after its eta, ` +
        `received by Odoo ${arrival(job.uuid)! - job.eta!.getTime()} ms after it (printed, not asserted)`,
    );
    expect(rows[0]!.after_eta_ms).toBeGreaterThanOrEqual(0);
    expect((await jobStates(fixture.db.pool, [job.uuid]))[job.uuid]).toBe('done');
  }, 30_000);

  it('keeps a throttled channel to one job per N seconds, taking the next in the first pass after the pause', async () => {
    const controller = new AbortController();
    const config = testConfig({
      databaseUrl: fixture.db.url,
      channels: 'root:50,root.api:2:throttle=1',
      windowSeconds: 30,
    });
    const api: string[] = [];
    for (let i = 0; i < 3; i++) api.push((await createJob(fixture.db.pool, { channel: 'root.api' })).uuid);
    const running = tick(config, silentLogger, { signal: controller.signal });
    // Jobs of another channel keep arriving, so passes keep happening while root.api is paused: the
    // one that first finds the pause over must take the next root.api job.
    const feeding = (async () => {
      while (!controller.signal.aborted) {
        await createJob(fixture.db.pool, { channel: 'root.other' });
        await sleep(30);
      }
    })();
    try {
      await untilClaimed(api);
    } finally {
      controller.abort();
      await feeding;
    }
    const summary = await running;
    expect(summary.ok).toBe(true);
    const passes = passesOf(await claims(fixture.db.pool));
    const throttled = passes.filter((pass) => pass.uuids.some((uuid) => api.includes(uuid)));
    // One root.api job per pass, in OCA order.
    expect(throttled.map((pass) => pass.uuids.filter((uuid) => api.includes(uuid)))).toEqual(
      api.map((u) => [u]),
    );
    for (let k = 1; k < throttled.length; k++) {
      const previous = throttled[k - 1]!;
      const pauseEnd = previous.atUs + 1_000_000;
      console.log(
        `throttle=1: claimed ${(throttled[k]!.atUs - previous.atUs) / 1000} ms after the previous one`,
      );
      // Never two within the pause, by the database clock the runner planned with.
      expect(throttled[k]!.atUs).toBeGreaterThanOrEqual(pauseEnd);
      // Inside one tick the pause is known to the millisecond (not padded to the table's whole
      // seconds): no pass planned after its end passed the job over. A pass plans from its read and
      // claims in a later transaction, so the one claim logged after the end may have been planned
      // before it; a second one was planned after it (padding by a second would show ~30 here).
      const passedOver = passes.filter((pass) => pass.atUs >= pauseEnd && pass.atUs < throttled[k]!.atUs);
      expect(passedOver.length).toBeLessThanOrEqual(1);
    }
    // The rows agree: date_enqueued (whole seconds) strictly increases.
    const { rows } = await fixture.db.pool.query<{ seconds: number }>(
      `SELECT extract(epoch FROM date_enqueued)::float8 AS seconds FROM queue_job
       WHERE uuid = ANY($1::text[]) ORDER BY id`,
      [api],
    );
    const seconds = rows.map((row) => row.seconds);
    expect(seconds.every((s, i) => i === 0 || s > seconds[i - 1]!)).toBe(true);
  }, 40_000);

  it('holds a sequential channel behind a failed job, then in order once it is cleared', async () => {
    const config = testConfig({ databaseUrl: fixture.db.url, channels: 'root:4,root.seq:1:sequential' });
    const blocker = await createJob(fixture.db.pool, { channel: 'root.seq', state: 'failed' });
    const next = await createJob(fixture.db.pool, { channel: 'root.seq' });
    const other = await createJob(fixture.db.pool, { channel: 'root' });
    const first = await tick(config, silentLogger);
    expect(first.targets[0]?.claimed).toBe(1);
    expect((await claims(fixture.db.pool)).map((claim) => claim.uuid)).toEqual([other.uuid]);
    expect((await jobStates(fixture.db.pool, [next.uuid]))[next.uuid]).toBe('pending');
    await fixture.db.pool.query(`UPDATE queue_job SET state = 'cancelled' WHERE uuid = $1`, [blocker.uuid]);
    await tick(config, silentLogger);
    expect((await claims(fixture.db.pool)).map((claim) => claim.uuid)).toEqual([other.uuid, next.uuid]);
  });

  it('stops dispatching within the window once the built-in runner starts, and never resumes while it runs', async () => {
    // The probe runs every UPSTREAM_CHECK_MS (5 s), after the claim on later passes. Jobs committed one
    // by one after the runner took its lock: those claimed are exactly the first ones, up to the pass
    // that saw the runner; none after it, whenever that pass came.
    const config = testConfig({ databaseUrl: fixture.db.url, channels: 'root:8', windowSeconds: 9 });
    const running = tick(config, silentLogger);
    // Past the first pass and its probe: a job committed now is claimed by a pass after it.
    const before = await createJob(fixture.db.pool);
    await untilClaimed([before.uuid]);
    const upstream = new pg.Client({ connectionString: fixture.db.url });
    await upstream.connect();
    try {
      await upstream.query('SELECT pg_advisory_lock(2293787760715711918)');
      const committed: string[] = [];
      for (let i = 0; i < 40; i++) {
        committed.push((await createJob(fixture.db.pool)).uuid);
        await sleep(175);
      }
      const summary = await running;
      expect(summary.targets[0]).toMatchObject({ upstreamRunner: true });
      expect(summary.targets[0]?.errors.join(' ')).toContain('ODOO_QUEUE_JOB_CHANNELS=root:0');
      const claimed = new Set((await claims(fixture.db.pool)).map((claim) => claim.uuid));
      const k = committed.findIndex((uuid) => !claimed.has(uuid));
      expect(k).toBeGreaterThanOrEqual(0); // refused before the last job
      expect(committed.slice(k).filter((uuid) => claimed.has(uuid))).toEqual([]);
      const states = await jobStates(fixture.db.pool, committed.slice(k));
      expect(new Set(Object.values(states))).toEqual(new Set(['pending']));
    } finally {
      await upstream.end();
    }
  }, 40_000);

  it('starts no pass after the window and leaves nothing running', async () => {
    const config = testConfig({ databaseUrl: fixture.db.url, windowSeconds: 1 });
    const summary = await tick(config, silentLogger);
    // Nothing to do: the first pass, then a wait that only the window's end ends, and no pass after it.
    expect(summary.targets[0]?.passes).toBe(1);
    // The runner's own clock: it kept the window open to its end (load can only lengthen this).
    expect(summary.targets[0]?.durationMs).toBeGreaterThanOrEqual(1000);
    const late = await createJob(fixture.db.pool);
    await sleep(400);
    expect((await jobStates(fixture.db.pool, [late.uuid]))[late.uuid]).toBe('pending');
    expect(await claims(fixture.db.pool)).toEqual([]);
    // The runner's connections are all closed (the LISTEN one included).
    const { rows } = await fixture.db.pool.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'queue-job-runner' AND datname = $1`,
      [fixture.db.name],
    );
    expect(rows[0]?.n).toBe(0);
  });

  it('stops starting passes when aborted, and still settles', async () => {
    const controller = new AbortController();
    const config = testConfig({ databaseUrl: fixture.db.url, windowSeconds: 30 });
    const running = tick(config, silentLogger, { signal: controller.signal });
    await untilListening();
    // Normally the first pass is over by then and the abort lands in the wait between passes.
    await sleep(300);
    const aborted = Date.now();
    controller.abort();
    const summary = await running;
    console.log(`settled ${Date.now() - aborted} ms after the abort (printed, not asserted)`);
    // The first pass, then the abort ended the wait: no other pass, and the window was cut short.
    expect(summary.targets[0]?.passes).toBe(1);
    expect(summary.targets[0]?.durationMs).toBeLessThan(30_000);
    // What ended the wait was the abort, not the fallback poll that comes POLL_MS after the pass: the
    // wait has no other way to end this early (no job, no eta). A bound of seconds on an event that
    // takes microseconds, kept because "ends the wait on abort" has no other observable.
    expect(Date.now() - aborted).toBeLessThan(POLL_MS - 500);
    expect(summary.ok).toBe(true);
  });

  it.each([
    ['without', false],
    ['with', true],
  ])('does not starve a channel behind a busy one (%s the helper indexes)', async (_label, indexes) => {
    if (indexes) for (const index of sql.helperIndexes) await fixture.db.pool.query(index.create);
    try {
      const config = testConfig({
        databaseUrl: fixture.db.url,
        channels: 'root:10,root.busy:1,root.quiet:2',
      });
      fixture.odoo.configure({ durationMs: (job) => (job.channel === 'root.busy' ? 2000 : 0) });
      // Far more urgent jobs in a capacity-1 channel than any bounded read of the whole backlog returns.
      await createJobs(fixture.db.pool, 500, { channel: 'root.busy', priority: 1 });
      const quiet = await createJobs(fixture.db.pool, 2, { channel: 'root.quiet', priority: 50 });
      const summary = await tick({ ...config, dispatchTimeoutMs: 200 }, silentLogger);
      expect(summary.targets[0]?.claimed).toBe(3);
      // Both quiet jobs were claimed in that one pass (whether Odoo answered within 200 ms or not).
      expect((await claims(fixture.db.pool, quiet)).map((claim) => claim.uuid).sort()).toEqual(
        [...quiet].sort(),
      );
      await fixture.odoo.waitFor(() => fixture.odoo.counts().inFlight === 0, 5000);
    } finally {
      if (indexes) for (const index of sql.helperIndexes) await fixture.db.pool.query(index.drop);
    }
  });
});

describe('window resilience', () => {
  const { db, odoo } = { db: () => fixture.db, odoo: () => fixture.odoo };

  it('listens again after its LISTEN connection is killed, and is woken by notifications again', async () => {
    // A window no longer than the fallback poll: a job committed once the runner listens again is
    // claimed in this tick only if a notification woke a pass for it.
    const config = testConfig({ databaseUrl: db().url, windowSeconds: POLL_MS / 1000 });
    const running = tick(config, silentLogger);
    const first = await untilListening();
    const killed = await db().pool.query('SELECT pg_terminate_backend($1)', [first]);
    expect(killed.rowCount).toBe(1);
    await untilListening([first]);
    // Let the pass that follows the new LISTEN finish, so the job is left to a notification.
    await sleep(200);
    const job = await createJob(db().pool);
    const committed = Date.now();
    const summary = await running;
    expect(summary.ok).toBe(true);
    expect((await claims(db().pool, [job.uuid])).length).toBe(1);
    expect(odoo().takenCount(job.uuid)).toBe(1);
    const pickup = (odoo().requests.find((r) => r.uuid === job.uuid)?.at ?? Number.NaN) - committed;
    console.log(
      `pickup after the LISTEN connection was killed and reopened: ${pickup} ms (printed, not asserted)`,
    );
  }, 30_000);
});
