// A window's channel heads against a real database: kept up to date by Odoo's NOTIFY they spare the
// pass its backlog read, and when they are wrong (changes no notification reported) the guarded claim
// still claims only jobs that are pending, due and in the channel the plan counted, within every
// capacity. Asserted on rows and on what the pass decided, never on timings.
import { describe, expect, it } from 'vitest';
import { channelTree, parseChannels } from '../shared/channels.ts';
import { claimPass, type PassOptions } from '../shared/claim.ts';
import { DirectTransport } from '../shared/direct.ts';
import { type Changes, Heads } from '../shared/heads.ts';
import { useStandin } from './support/fixture.ts';
import { createJob, createJobs } from './support/jobs.ts';

const fixture = useStandin();
const HOUR = 3_600_000;

async function idsOf(uuids: string[]): Promise<number[]> {
  const { rows } = await fixture.db.pool.query<{ id: number }>(
    'SELECT id FROM queue_job WHERE uuid = ANY($1) ORDER BY id',
    [uuids],
  );
  return rows.map((row) => row.id);
}

async function runningByChannel(): Promise<Record<string, number>> {
  const { rows } = await fixture.db.pool.query<{ channel: string; n: number }>(
    `SELECT channel, count(*)::int AS n FROM queue_job WHERE state IN ('enqueued', 'started') GROUP BY channel`,
  );
  return Object.fromEntries(rows.map((row) => [row.channel, row.n]));
}

describe("a window's channel heads", () => {
  it('when stale, never claim a job gone from pending, not due, or moved to a full channel', async () => {
    const transport = new DirectTransport(fixture.db.url);
    try {
      const tree = channelTree(parseChannels('root:20,root.a:4,root.b:1'));
      await createJobs(fixture.db.pool, 1, { channel: 'root.b', state: 'started' });
      const a = await idsOf(await createJobs(fixture.db.pool, 7, { channel: 'root.a' }));
      // Notifications are never reported complete-and-empty here: the heads know only their first read.
      const heads = new Heads(HOUR);
      const silent: Changes = { uuids: [], complete: true };
      const options: PassOptions = { heads: { heads, drain: () => silent } };

      const first = await claimPass(transport, tree, options);
      expect(first.claimed.map((job) => job.id)).toEqual(a.slice(0, 4));
      expect(heads.fills).toBe(1);

      // Behind the heads' back: the first four finish; another runner claims a[4]; a[5] moves to the
      // full root.b; a[6] is postponed an hour; a new job jumps the queue.
      const pool = fixture.db.pool;
      await pool.query(`UPDATE queue_job SET state = 'done' WHERE id = ANY($1)`, [a.slice(0, 4)]);
      await pool.query(`UPDATE queue_job SET state = 'enqueued', date_enqueued = now() WHERE id = $1`, [
        a[4],
      ]);
      await pool.query(`UPDATE queue_job SET channel = 'root.b' WHERE id = $1`, [a[5]]);
      await pool.query(
        `UPDATE queue_job SET eta = now() AT TIME ZONE 'utc' + interval '1 hour' WHERE id = $1`,
        [a[6]],
      );
      const unknown = await createJob(pool, { channel: 'root.a', priority: 1 });

      const stale = await claimPass(transport, tree, options);
      expect(heads.fills).toBe(1); // served from the stale heads
      expect(stale.claimed).toEqual([]);
      expect(stale.skipped).toBe(3); // planned a[4], a[5], a[6]; the claim refused all three
      expect(await runningByChannel()).toEqual({ 'root.a': 1, 'root.b': 1 });

      // A missed notification reported: the pass reads in full and finds the job it did not know.
      const lost: Changes = { uuids: [], complete: false };
      const fresh = await claimPass(transport, tree, { heads: { heads, drain: () => lost } });
      expect(heads.fills).toBe(2);
      expect(fresh.claimed.map((job) => job.uuid)).toEqual([unknown.uuid]);
      expect(await runningByChannel()).toEqual({ 'root.a': 2, 'root.b': 1 });
    } finally {
      await transport.close();
    }
  });

  it("kept up to date by Odoo's notifications, claim new and changed jobs without re-reading the backlog", async () => {
    const transport = new DirectTransport(fixture.db.url);
    const waker = transport.waker();
    try {
      await waker.open();
      const tree = channelTree(parseChannels('root:50,root.a:2'));
      const backlog = await idsOf(await createJobs(fixture.db.pool, 30, { channel: 'root.a' }));
      const heads = new Heads(HOUR);
      const options: PassOptions = { heads: { heads, drain: () => waker.drain!() } };
      const first = await claimPass(transport, tree, options);
      expect(first.claimed.map((job) => job.id)).toEqual(backlog.slice(0, 2));
      expect(heads.fills).toBe(1);

      // New root jobs, one postponed root.a job, and the two running root.a jobs done: all notified.
      const fresh = await createJobs(fixture.db.pool, 3, { channel: 'root' });
      await fixture.db.pool.query(
        `UPDATE queue_job SET eta = now() AT TIME ZONE 'utc' + interval '1 hour' WHERE id = $1`,
        [backlog[2]],
      );
      await fixture.db.pool.query(`UPDATE queue_job SET state = 'done' WHERE id = ANY($1)`, [
        backlog.slice(0, 2),
      ]);
      const claimed: string[] = [];
      // Notifications arrive when they arrive: pass on each wake-up, a bounded number of times.
      for (let round = 0; round < 50 && claimed.length < 5; round++) {
        await waker.wait(Date.now() + 1000);
        waker.notified = false;
        const pass = await claimPass(transport, tree, options);
        claimed.push(...pass.claimed.map((job) => job.uuid));
      }
      const expected = [...fresh, ...(await uuidsOf(backlog.slice(3, 5)))];
      expect(claimed.sort()).toEqual(expected.sort());
      expect(heads.fills).toBe(1);
      // The postponed job is known as the next thing to wake up for.
      const { rows } = await fixture.db.pool.query<{ eta: number }>(
        `SELECT (extract(epoch FROM eta) * 1000)::float8 AS eta FROM queue_job WHERE id = $1`,
        [backlog[2]],
      );
      expect(heads.wakeAt).toBe(rows[0]!.eta);
    } finally {
      await waker.close();
      await transport.close();
    }
  });
});

async function uuidsOf(ids: number[]): Promise<string[]> {
  const { rows } = await fixture.db.pool.query<{ uuid: string }>(
    'SELECT uuid FROM queue_job WHERE id = ANY($1) ORDER BY id',
    [ids],
  );
  return rows.map((row) => row.uuid);
}

describe("the LISTEN connection's report of what changed", () => {
  /** Waits (an event; fails only after 20 s) until the waker heard something. */
  async function heard(waker: ReturnType<DirectTransport['waker']>): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (!waker.notified) {
      if (Date.now() > deadline) throw new Error('no notification arrived');
      await waker.wait(Date.now() + 500);
    }
    waker.notified = false;
  }

  it('is incomplete before the first drain and after a lost connection, until a drain while listening', async () => {
    const transport = new DirectTransport(fixture.db.url);
    const waker = transport.waker();
    try {
      await waker.open();
      // Nothing drained yet: what happened before LISTEN is unknown.
      expect(waker.drain!()).toEqual({ uuids: [], complete: false });
      const job = await createJob(fixture.db.pool);
      await heard(waker);
      expect(waker.drain!()).toEqual({ uuids: [job.uuid], complete: true });

      // The connection dies: incomplete until a drain while listening again.
      await fixture.db.pool.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()`,
      );
      const deadline = Date.now() + 20_000;
      while (waker.listening && Date.now() < deadline) await waker.wait(Date.now() + 200);
      expect(waker.listening).toBe(false);
      expect(waker.drain!().complete).toBe(false);
      await waker.open();
      expect(waker.drain!().complete).toBe(false); // the gap since the loss is not covered yet
      expect(waker.drain!().complete).toBe(true);
    } finally {
      await waker.close();
      await transport.close();
    }
  }, 40_000);
});
