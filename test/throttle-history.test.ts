// A throttled channel across ticks: what an earlier tick enqueued, the next one reads from the table
// (date_enqueued, the channel and its subtree), with and without the helper index on date_enqueued
// that `optimize` creates, and through either read decides the same; the claim's proof refuses a plan
// that missed a claim made since its read; a manual run is held to the same pause. Asserted on what the passes decided and on the rows.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { channelTree, parseChannels } from '../shared/channels.ts';
import { claimPass, claimPlanned, readPlanState } from '../shared/claim.ts';
import { DirectTransport } from '../shared/direct.ts';
import { silentLogger } from '../shared/log.ts';
import { manualDispatch } from '../shared/manual.ts';
import * as sql from '../shared/sql.ts';
import { helperIndexesPresent } from '../shared/target.ts';
import type { Call, Transport } from '../shared/transport.ts';
import { useStandin } from './support/fixture.ts';
import { createJobs } from './support/jobs.ts';
import { testConfig } from './support/runner.ts';

const fixture = useStandin();
const THROTTLE = 30;
const tree = channelTree(parseChannels(`root:10,root.t:5:throttle=${THROTTLE}`));

/** The direct transport, keeping the name of every statement it sends. */
function recording(): { transport: Transport; sent: string[] } {
  const inner = new DirectTransport(fixture.db.url);
  const sent: string[] = [];
  const transport: Transport = {
    description: inner.description,
    run: (calls: readonly Call[], options) => {
      sent.push(...calls.map((call) => call.statement.name));
      return inner.run(calls, options);
    },
    waker: () => inner.waker(),
    close: () => inner.close(),
  };
  return { transport, sent };
}

/** Sets a job's date_enqueued `secondsAgo` before now, in whole seconds as the runner writes it. */
async function enqueuedAgo(uuid: string, secondsAgo: number): Promise<number> {
  const { rows } = await fixture.db.pool.query<{ at: number }>(
    `UPDATE queue_job SET date_enqueued = date_trunc('seconds', now() AT TIME ZONE 'utc') - make_interval(secs => $2)
     WHERE uuid = $1 RETURNING (extract(epoch FROM date_enqueued) * 1000)::float8 AS at`,
    [uuid, secondsAgo],
  );
  return rows[0]!.at;
}

describe.each([
  ['without', false],
  ['with', true],
])('a throttled channel, %s the helper index on date_enqueued', (_label, indexed) => {
  const index = sql.helperIndexes.find((helper) => helper.serves === 'throttle')!;
  beforeEach(async () => {
    if (indexed) await fixture.db.pool.query(index.create);
  });
  afterEach(async () => {
    await fixture.db.pool.query(index.drop);
  });

  it('waits out what an earlier tick enqueued in its subtree, then takes one job, which the next tick sees', async () => {
    const { transport, sent } = recording();
    try {
      const indexes = await helperIndexesPresent(transport);
      expect(indexes.throttle).toBe(indexed);
      const waiting = await createJobs(fixture.db.pool, 3, { channel: 'root.t' });
      // An earlier tick sent a job of root.t.sub 2 s ago; it is done already, so it holds no capacity.
      const [earlier] = await createJobs(fixture.db.pool, 1, { channel: 'root.t.sub', state: 'done' });
      const at = await enqueuedAgo(earlier!, 2);

      const paused = await claimPass(transport, tree, { indexes, throttles: new Map() });
      expect(paused.claimed).toEqual([]);
      // date_enqueued is whole seconds: the pause ends a second after its throttle, never early.
      expect(paused.wakeAt).toBe(at + 1000 + THROTTLE * 1000);

      await enqueuedAgo(earlier!, THROTTLE + 10);
      const open = await claimPass(transport, tree, { indexes, throttles: new Map() });
      expect(open.claimed.map((job) => job.uuid)).toEqual([waiting[0]]);

      // The next tick (no memory of the claim) reads it back from the table.
      const next = await claimPass(transport, tree, { indexes, throttles: new Map() });
      expect(next.claimed).toEqual([]);
      expect(next.wakeAt).not.toBeNull();
      expect(next.wakeAt!).toBeGreaterThan(open.now);

      const form = (name: string) => (indexed ? `${name}_index` : name);
      expect(sent).toContain(form('qjr_pass_state'));
      expect(sent).toContain(form('qjr_claim'));
      expect(sent).not.toContain(indexed ? 'qjr_pass_state' : 'qjr_pass_state_index');
    } finally {
      await transport.close();
    }
  });

  it('holds a manual run of the channel to the same pause', async () => {
    const [job] = await createJobs(fixture.db.pool, 1, { channel: 'root.t' });
    const [earlier] = await createJobs(fixture.db.pool, 1, { channel: 'root.t.sub', state: 'done' });
    await enqueuedAgo(earlier!, 2);
    const config = testConfig({
      databaseUrl: fixture.db.url,
      channels: `root:10,root.t:5:throttle=${THROTTLE}`,
    });
    const paused = await manualDispatch(config, silentLogger, { channel: 'root.t' });
    expect(paused.results).toEqual([
      expect.objectContaining({ uuid: job, result: 'blocked', reason: 'throttle' }),
    ]);

    await enqueuedAgo(earlier!, THROTTLE + 10);
    const open = await manualDispatch(config, silentLogger, { channel: 'root.t' });
    expect(open.results).toEqual([expect.objectContaining({ uuid: job, result: 'dispatched' })]);
  });

  it('refuses a plan that missed a job enqueued in the subtree since its read', async () => {
    const transport = new DirectTransport(fixture.db.url);
    try {
      const indexes = await helperIndexesPresent(transport);
      const [job] = await createJobs(fixture.db.pool, 1, { channel: 'root.t' });
      const [other] = await createJobs(fixture.db.pool, 1, { channel: 'root.t.sub' });
      const state = await readPlanState(transport, tree, indexes);
      expect(state.lastEnqueued.has('root.t')).toBe(false);

      // Another tick sends the root.t.sub job between this plan's read and its claim, and it is done by
      // then: no channel runs more than the plan counted, only the throttle proof can see it.
      await fixture.db.pool.query(`UPDATE queue_job SET state = 'done' WHERE uuid = $1`, [other]);
      await enqueuedAgo(other!, 0);
      const { rows } = await fixture.db.pool.query<{ id: number; channel: string }>(
        'SELECT id, channel FROM queue_job WHERE uuid = $1',
        [job],
      );
      const claim = await claimPlanned(transport, tree, rows, { assumed: state, indexes });
      expect(claim.holds).toBe(false);
      expect(claim.claimed).toEqual([]);
      const { rows: states } = await fixture.db.pool.query<{ state: string }>(
        'SELECT state FROM queue_job WHERE uuid = $1',
        [job],
      );
      expect(states[0]!.state).toBe('pending');
    } finally {
      await transport.close();
    }
  });
});
