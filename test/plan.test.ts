import { describe, expect, it } from 'vitest';
import { type ChannelConfig, type ChannelTree, channelTree, parseChannels } from '../shared/channels.ts';
import {
  type Candidate,
  closedChannels,
  compareJobs,
  type PlanInput,
  plan,
  runningByChannel,
} from '../shared/plan.ts';
import { seededRandom as random } from './support/random.ts';

const NOW = Date.UTC(2025, 0, 1, 12, 0, 0);

let nextId = 1;
/** A pending job; ids increase with creation unless given, dates default to the id (so OCA order = id order). */
function job(channel: string | null, fields: Partial<Candidate> = {}): Candidate {
  const id = fields.id ?? nextId++;
  return { id, uuid: `u${id}`, channel, priority: 10, dateCreated: NOW - 1e6 + id, eta: null, ...fields };
}

function input(channels: string, fields: Partial<PlanInput>): PlanInput {
  return {
    tree: channelTree(parseChannels(channels)),
    now: NOW,
    running: new Map(),
    failedChannels: new Set(),
    due: [],
    waiting: [],
    pausedUntil: new Map(),
    limit: 1000,
    ...fields,
  };
}

const ids = (jobs: readonly Candidate[]) => jobs.map((j) => j.id);
const planned = (channels: string, fields: Partial<PlanInput>) => ids(plan(input(channels, fields)).jobs);

describe('compareJobs (OCA order)', () => {
  const base: Candidate = { id: 5, uuid: 'x', channel: null, priority: 10, dateCreated: 1000, eta: null };

  it('puts a lower priority number first, whatever the date and id', () => {
    expect(compareJobs({ ...base, priority: 5, dateCreated: 9000, id: 9 }, base)).toBeLessThan(0);
  });

  it('then the older job', () => {
    expect(compareJobs({ ...base, dateCreated: 999, id: 9 }, base)).toBeLessThan(0);
  });

  it('then the smaller id', () => {
    expect(compareJobs({ ...base, id: 4 }, base)).toBeLessThan(0);
    expect(compareJobs(base, { ...base })).toBe(0);
  });

  it('reads a NULL priority as 10', () => {
    expect(compareJobs({ ...base, priority: null }, { ...base, id: 6 })).toBeLessThan(0);
    expect(compareJobs({ ...base, priority: null }, { ...base, priority: 9 })).toBeGreaterThan(0);
    expect(compareJobs({ ...base, priority: null }, { ...base, priority: 11 })).toBeLessThan(0);
  });

  it('sorts a NULL date_created after every date, as PostgreSQL does', () => {
    expect(
      compareJobs({ ...base, dateCreated: null, id: 1 }, { ...base, dateCreated: 9e15 }),
    ).toBeGreaterThan(0);
    expect(compareJobs({ ...base, dateCreated: 1 }, { ...base, dateCreated: null })).toBeLessThan(0);
    expect(compareJobs({ ...base, dateCreated: null, id: 1 }, { ...base, dateCreated: null })).toBeLessThan(
      0,
    );
  });
});

describe('plan', () => {
  it('takes nothing from nothing', () => {
    const result = plan(input('root:4', {}));
    expect(result).toEqual({ jobs: [], pausedUntil: new Map(), blocked: [] });
  });

  it('fills root capacity in OCA order, whatever the input order', () => {
    const a = job(null);
    const b = job('root');
    const c = job('');
    const d = job(null);
    expect(planned('root:3', { due: [d, c, b, a] })).toEqual([a.id, b.id, c.id]);
  });

  it('dispatches a better priority first, and breaks date ties by id', () => {
    const old = job(null, { priority: 10, dateCreated: 1 });
    const urgent = job(null, { priority: 1, dateCreated: 9 });
    const tieLow = job(null, { id: 500, priority: 5, dateCreated: 5 });
    const tieHigh = job(null, { id: 400, priority: 5, dateCreated: 5 });
    expect(planned('root:10', { due: [old, tieLow, urgent, tieHigh] })).toEqual([
      urgent.id,
      tieHigh.id,
      tieLow.id,
      old.id,
    ]);
    // with room for one, priority wins over age
    expect(planned('root:1', { due: [old, urgent] })).toEqual([urgent.id]);
  });

  it('reads a NULL priority as 10', () => {
    const nine = job(null, { priority: 9 });
    const nullPriority = job(null, { priority: null });
    const ten = job(null, { priority: 10 });
    const eleven = job(null, { priority: 11 });
    expect(planned('root:10', { due: [eleven, ten, nullPriority, nine] })).toEqual([
      nine.id,
      nullPriority.id,
      ten.id,
      eleven.id,
    ]);
  });

  it('takes a job whose eta has come and never one whose eta is ahead', () => {
    const past = job(null, { eta: NOW - 1 });
    const exactlyNow = job(null, { eta: NOW });
    const future = job(null, { eta: NOW + 1 });
    // a future job that slipped into `due` (e.g. read a moment early) still waits
    expect(planned('root:10', { due: [past, exactlyNow, future], waiting: [future] })).toEqual([
      past.id,
      exactlyNow.id,
    ]);
  });

  it('ignores eta for ordering once due (upstream clears it)', () => {
    const etaJob = job(null, { priority: 10, eta: NOW - 1000 });
    const urgent = job(null, { priority: 1 });
    expect(planned('root:1', { due: [etaJob, urgent] })).toEqual([urgent.id]);
  });

  it('limits a sub-channel by its parent: parent 2, child 5 → 2', () => {
    const jobs = Array.from({ length: 6 }, () => job('root.parent.child'));
    const result = plan(input('root:10,parent:2,parent.child:5', { due: jobs }));
    expect(ids(result.jobs)).toEqual(ids(jobs.slice(0, 2)));
    expect(result.blocked).toEqual([{ channel: 'root.parent', reason: 'capacity' }]);
  });

  it('limits everything by root', () => {
    const jobs = Array.from({ length: 5 }, (_, i) => job(i % 2 ? 'a' : 'b'));
    const result = plan(input('root:3,a:5,b:5', { due: jobs }));
    expect(ids(result.jobs)).toEqual(ids(jobs.slice(0, 3)));
    expect(result.blocked).toEqual([{ channel: 'root', reason: 'capacity' }]);
  });

  it('treats capacity 0 below root as unlimited', () => {
    const jobs = Array.from({ length: 7 }, () => job('big'));
    expect(planned('root:5,big:0', { due: jobs })).toEqual(ids(jobs.slice(0, 5)));
    expect(planned('root:100,big:0', { due: jobs })).toEqual(ids(jobs));
  });

  it('treats a non-leading root:0 as an unlimited root', () => {
    const jobs = Array.from({ length: 7 }, () => job(null));
    expect(planned('a:1,root:0', { due: jobs })).toEqual(ids(jobs));
  });

  it('lets running jobs consume capacity, counted in every configured ancestor', () => {
    const jobs = Array.from({ length: 4 }, () => job('a.b'));
    // 1 running in root.a.b (unconfigured) counts in root.a and root
    expect(planned('root:10,a:3', { due: jobs, running: new Map([['a.b', 1]]) })).toEqual(
      ids(jobs.slice(0, 2)),
    );
    // ... and in root, several levels up, limiting a job of another channel
    const rootJobs = [job(null), job('other')];
    expect(planned('root:3,a:5', { due: rootJobs, running: new Map([['a.b.c', 2]]) })).toEqual([
      rootJobs[0]!.id,
    ]);
    // running elsewhere counts in root only
    expect(planned('root:3,a:3', { due: jobs, running: new Map([['other', 2]]) })).toEqual(
      ids(jobs.slice(0, 1)),
    );
    // a NULL channel is passed as ''
    expect(planned('root:3,a:3', { due: jobs, running: new Map([['', 3]]) })).toEqual([]);
    // the same channel spelt with and without root. is one channel
    const spelt = new Map([
      ['a', 1],
      ['root.a', 1],
    ]);
    expect(planned('root:10,a:3', { due: jobs, running: spelt })).toEqual(ids(jobs.slice(0, 1)));
  });

  it('takes nothing when running jobs already exceed the capacity', () => {
    const jobs = [job('a'), job(null)];
    const result = plan(input('root:4,a:1', { due: jobs, running: new Map([['a', 3]]) }));
    expect(ids(result.jobs)).toEqual([jobs[1]!.id]);
  });

  it('lets an unconfigured channel share its nearest configured ancestor capacity', () => {
    const x = [job('edi.x'), job('edi.x')];
    const y = [job('edi.y.z'), job('edi.y.z')];
    const direct = job('edi');
    const result = plan(input('root:10,edi:3', { due: [...x, ...y, direct] }));
    expect(ids(result.jobs)).toEqual([x[0]!.id, x[1]!.id, y[0]!.id]);
    expect(result.blocked).toEqual([{ channel: 'root.edi', reason: 'capacity' }]);
  });

  it('does not let a full channel starve others', () => {
    // many jobs of a full channel sort first; the other channels still get their turn
    const full = Array.from({ length: 50 }, () => job('busy', { priority: 1 }));
    const quiet = [job('quiet'), job('quiet')];
    const loose = job('somewhere.else');
    const result = plan(
      input('root:10,busy:2,quiet:1', { due: [...full, ...quiet, loose], running: new Map([['busy', 2]]) }),
    );
    expect(ids(result.jobs)).toEqual([quiet[0]!.id, loose.id]);
    expect(result.blocked).toEqual([
      { channel: 'root.busy', reason: 'capacity' },
      { channel: 'root.quiet', reason: 'capacity' },
    ]);
  });

  it('never plans more than the limit', () => {
    const jobs = Array.from({ length: 10 }, () => job(null));
    expect(planned('root:10', { due: jobs, limit: 4 })).toEqual(ids(jobs.slice(0, 4)));
    expect(planned('root:10', { due: jobs, limit: 0 })).toEqual([]);
  });

  it('plans a job listed twice only once', () => {
    const a = job(null);
    expect(planned('root:10', { due: [a, a], waiting: [] })).toEqual([a.id]);
  });

  describe('sequential', () => {
    const config = 'root:4,seq:1:sequential';

    it('takes one job at a time', () => {
      const jobs = [job('seq'), job('seq')];
      expect(planned(config, { due: jobs })).toEqual([jobs[0]!.id]);
      expect(planned(config, { due: jobs, running: new Map([['seq', 1]]) })).toEqual([]);
    });

    it('is blocked by a failed job in the channel itself', () => {
      const jobs = [job('seq'), job(null)];
      const result = plan(input(config, { due: jobs, failedChannels: new Set(['root.seq']) }));
      expect(ids(result.jobs)).toEqual([jobs[1]!.id]);
      expect(result.blocked).toEqual([{ channel: 'root.seq', reason: 'sequential_failed' }]);
    });

    it('also blocks its unconfigured sub-channels when it has a failed job', () => {
      const child = job('seq.child');
      expect(planned(config, { due: [child], failedChannels: new Set(['root.seq']) })).toEqual([]);
    });

    it('is not blocked by a failed job in a child channel', () => {
      const jobs = [job('seq')];
      expect(planned(config, { due: jobs, failedChannels: new Set(['root.seq.child']) })).toEqual([
        jobs[0]!.id,
      ]);
    });

    it('is not blocked by a failed job when not sequential', () => {
      const jobs = [job('plain')];
      expect(planned('root:4,plain:1', { due: jobs, failedChannels: new Set(['root.plain']) })).toEqual([
        jobs[0]!.id,
      ]);
    });

    it('waits for an earlier job whose eta has not come (upstream S1/S2/S3 doctest)', () => {
      const s2 = job('seq', { eta: NOW + 5000 });
      const s3 = job('seq');
      const result = plan(input(config, { due: [s3], waiting: [s2] }));
      expect(result.jobs).toEqual([]);
      expect(result.blocked).toEqual([{ channel: 'root.seq', reason: 'sequential_eta' }]);
      // once its eta has come, s2 goes first
      expect(planned(config, { now: NOW + 5000, due: [s2, s3] })).toEqual([s2.id]);
    });

    it('does not wait for a later job with an eta', () => {
      const s1 = job('seq');
      const s2 = job('seq', { eta: NOW + 5000 });
      expect(planned(config, { due: [s1], waiting: [s2] })).toEqual([s1.id]);
      // a worse priority also sorts later, whatever the date
      const early = job('seq', { priority: 20, dateCreated: 0, eta: NOW + 5000 });
      expect(planned(config, { due: [s1], waiting: [early] })).toEqual([s1.id]);
    });

    it('compares with the earliest-eta waiting job only (upstream eta heap top)', () => {
      const due = job('seq', { priority: 5 });
      const soonButLater = job('seq', { priority: 9, eta: NOW + 1000 });
      const laterButFirst = job('seq', { priority: 1, eta: NOW + 9000 });
      expect(planned(config, { due: [due], waiting: [laterButFirst, soonButLater] })).toEqual([due.id]);
      const soonAndFirst = job('seq', { priority: 1, eta: NOW + 1000 });
      expect(planned(config, { due: [due], waiting: [soonAndFirst, soonButLater] })).toEqual([]);
    });

    it('compares against the best due job of its subtree', () => {
      const child = job('seq.child', { priority: 1 });
      const own = job('seq', { priority: 8 });
      const waiting = job('seq', { priority: 5, eta: NOW + 1000 });
      expect(planned(config, { due: [own, child], waiting: [waiting] })).toEqual([child.id]);
    });

    it('ignores waiting jobs of other channels, sub-channels included', () => {
      const s = job('seq');
      const otherWaiting = [
        job('seq.child', { eta: NOW + 1, priority: 0 }),
        job(null, { eta: NOW + 1, priority: 0 }),
      ];
      expect(planned(config, { due: [s], waiting: otherWaiting })).toEqual([s.id]);
    });

    it('only applies the eta rule to sequential channels', () => {
      const j = job('plain');
      const w = job('plain', { eta: NOW + 1, priority: 0 });
      expect(planned('root:4,plain:1', { due: [j], waiting: [w] })).toEqual([j.id]);
    });
  });

  describe('throttle', () => {
    const config = 'root:10,api:5:throttle=5';

    it('lets one job per pass through and pauses the channel for N seconds', () => {
      const jobs = [job('api'), job('api'), job(null)];
      const result = plan(input(config, { due: jobs }));
      expect(ids(result.jobs)).toEqual([jobs[0]!.id, jobs[2]!.id]);
      expect(result.pausedUntil).toEqual(new Map([['root.api', NOW + 5000]]));
      expect(result.blocked).toEqual([{ channel: 'root.api', reason: 'throttle' }]);
    });

    it('yields nothing while paused and keeps the pause', () => {
      const jobs = [job('api.sub')];
      const paused = new Map([['root.api', NOW + 1]]);
      const result = plan(input(config, { due: jobs, pausedUntil: paused }));
      expect(result.jobs).toEqual([]);
      expect(result.pausedUntil).toEqual(paused);
      expect(result.pausedUntil).not.toBe(paused);
    });

    it('yields again once the pause is over (upstream: one job per N seconds)', () => {
      const jobs = [job('api'), job('api')];
      const first = plan(input(config, { due: jobs }));
      expect(ids(first.jobs)).toEqual([jobs[0]!.id]);
      const early = plan(
        input(config, {
          now: NOW + 4999,
          due: jobs.slice(1),
          running: new Map([['api', 1]]),
          pausedUntil: first.pausedUntil,
        }),
      );
      expect(early.jobs).toEqual([]);
      const onTime = plan(
        input(config, {
          now: NOW + 5000,
          due: jobs.slice(1),
          running: new Map([['api', 1]]),
          pausedUntil: first.pausedUntil,
        }),
      );
      expect(ids(onTime.jobs)).toEqual([jobs[1]!.id]);
      expect(onTime.pausedUntil).toEqual(new Map([['root.api', NOW + 10_000]]));
    });

    it('drops a pause that is over, even when nothing is taken', () => {
      const result = plan(input(config, { pausedUntil: new Map([['root.api', NOW]]) }));
      expect(result.pausedUntil).toEqual(new Map());
    });

    it('does not pause on a full channel', () => {
      const result = plan(
        input('root:10,api:1:throttle=5', { due: [job('api')], running: new Map([['api', 1]]) }),
      );
      expect(result.jobs).toEqual([]);
      expect(result.pausedUntil).toEqual(new Map());
      expect(result.blocked).toEqual([{ channel: 'root.api', reason: 'capacity' }]);
    });

    it('throttles a parent for jobs of all its sub-channels', () => {
      const jobs = [job('api.a'), job('api.b'), job('api')];
      expect(planned('root:10,api:0:throttle=2,api.a:3', { due: jobs })).toEqual([jobs[0]!.id]);
    });

    it('throttles root itself', () => {
      const jobs = [job(null), job('x')];
      const result = plan(input('root:10:throttle=1', { due: jobs }));
      expect(ids(result.jobs)).toEqual([jobs[0]!.id]);
      expect(result.pausedUntil).toEqual(new Map([['root', NOW + 1000]]));
    });

    it('ignores a pause of a channel that is not throttled', () => {
      const jobs = [job('plain')];
      const result = plan(
        input('root:10,plain:1', { due: jobs, pausedUntil: new Map([['root.plain', NOW + 9000]]) }),
      );
      expect(ids(result.jobs)).toEqual([jobs[0]!.id]);
    });
  });

  it('reports one reason per channel', () => {
    const jobs = [job('a'), job('a'), job('a')];
    expect(plan(input('root:10,a:1', { due: jobs })).blocked).toEqual([
      { channel: 'root.a', reason: 'capacity' },
    ]);
  });
});

describe('plan: properties over random trees', () => {
  const segments = ['a', 'b', 'ab', 'c'];

  function scenario(seed: number): PlanInput {
    const rnd = random(seed);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
    const name = () => Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => pick(segments)).join('.');
    const entries = [`root:${Math.floor(rnd() * 8)}`];
    for (let i = Math.floor(rnd() * 6); i > 0; i--) {
      const roll = rnd();
      if (roll < 0.2) entries.push(`${name()}:1:sequential`);
      else if (roll < 0.35)
        entries.push(`${name()}:${Math.floor(rnd() * 4)}:throttle=${1 + Math.floor(rnd() * 3)}`);
      else entries.push(`${name()}:${Math.floor(rnd() * 4)}`);
    }
    const tree: ChannelTree = channelTree(parseChannels(entries.join(',')));
    const raw = () => pick([null, '', 'root', name(), `root.${name()}`]);
    const running = new Map<string, number>();
    for (let i = Math.floor(rnd() * 4); i > 0; i--) running.set(raw() ?? '', Math.floor(rnd() * 3));
    const due = Array.from({ length: Math.floor(rnd() * 40) }, (_, i) => ({
      id: i + 1,
      uuid: `u${i + 1}`,
      channel: raw(),
      priority: pick([null, 0, 5, 10, 10, 10]),
      dateCreated: pick([null, 1, 2, 3, 4]),
      eta: pick([null, null, NOW - 1]),
    }));
    const configured = [...tree.configured.keys()];
    const failedChannels = new Set(configured.filter(() => rnd() < 0.2));
    const pausedUntil = new Map(
      configured.filter(() => rnd() < 0.2).map((n) => [n, NOW + pick([-1, 0, 1])] as const),
    );
    return {
      tree,
      now: NOW,
      running,
      failedChannels,
      due,
      waiting: [],
      pausedUntil,
      limit: pick([1, 3, 1000]),
    };
  }

  it('never exceeds a capacity and takes exactly the prefix-greedy choice (500 seeds)', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const where = `seed ${seed}`;
      const given = scenario(seed);
      const { tree } = given;
      const result = plan(given);
      const runningIn = (channel: ChannelConfig) => {
        let total = 0;
        for (const [raw, count] of given.running) if (tree.limits(raw).includes(channel)) total += count;
        return total;
      };

      expect(result.jobs.length, where).toBeLessThanOrEqual(given.limit);
      // dispatch order is OCA order
      expect([...result.jobs].sort(compareJobs), where).toEqual(result.jobs);

      // capacity never exceeded because of the plan; a throttled channel yields at most one job
      for (const channel of tree.configured.values()) {
        const takenHere = result.jobs.filter((j) => tree.limits(j.channel).includes(channel)).length;
        if (channel.capacity !== null) {
          expect(takenHere, `${where} ${channel.name}`).toBeLessThanOrEqual(
            Math.max(0, channel.capacity - runningIn(channel)),
          );
        }
        if (channel.throttle > 0) expect(takenHere, `${where} ${channel.name}`).toBeLessThanOrEqual(1);
        if (channel.sequential && given.failedChannels.has(channel.name))
          expect(takenHere, `${where} ${channel.name}`).toBe(0);
      }

      // prefix-greedy: walking the due jobs in OCA order, a job is taken exactly when every channel on
      // its path lets it through given the jobs taken before it, until the limit is reached
      const taken = new Set(result.jobs.map((j) => j.id));
      const before: Candidate[] = [];
      for (const j of [...given.due].sort(compareJobs)) {
        if (before.length >= given.limit) {
          expect(taken.has(j.id), where).toBe(false);
          continue;
        }
        const free = tree.limits(j.channel).every((channel) => {
          const takenHere = before.filter((t) => tree.limits(t.channel).includes(channel)).length;
          const paused = given.now < (given.pausedUntil.get(channel.name) ?? 0);
          if (channel.throttle > 0 && (paused || takenHere > 0)) return false;
          if (channel.sequential && given.failedChannels.has(channel.name)) return false;
          return channel.capacity === null || runningIn(channel) + takenHere < channel.capacity;
        });
        expect(taken.has(j.id), `${where}: job ${j.id} in ${j.channel}`).toBe(free);
        if (free) before.push(j);
      }
    }
  });
});

describe('closed channels (left out of the candidate read)', () => {
  const tree = channelTree(
    parseChannels('root:6,root.a:2,root.a.b:1,root.seq:1:sequential,root.api:3:throttle=5'),
  );
  const names = (channels: readonly ChannelConfig[]) => channels.map((c) => c.name).sort();

  it('counts running jobs in every configured ancestor, unconfigured channels included', () => {
    const totals = runningByChannel(
      tree,
      new Map([
        ['root.a.b.deep', 1],
        ['a', 1],
        ['', 2],
      ]),
    );
    expect(Object.fromEntries(totals)).toEqual({ 'root.a.b': 1, 'root.a': 2, root: 4 });
  });

  it('closes full channels, a sequential channel with a failed job, and a paused throttled channel', () => {
    const closed = closedChannels(
      tree,
      new Map([['root.a', 2]]),
      new Set(['root.seq']),
      new Map([['root.api', NOW + 1000]]),
      NOW,
    );
    expect(names(closed)).toEqual(['root.a', 'root.api', 'root.seq']);
  });

  it('closes root when it is full, and reopens a throttled channel once its pause is over', () => {
    const full = closedChannels(tree, new Map([['', 6]]), new Set(), new Map(), NOW);
    expect(names(full)).toContain('root');
    const over = closedChannels(tree, new Map(), new Set(), new Map([['root.api', NOW - 1]]), NOW);
    expect(names(over)).toEqual([]);
  });

  it('never closes an unlimited channel for capacity', () => {
    const unlimited = channelTree(parseChannels('root:0,root.x:0'));
    expect(closedChannels(unlimited, new Map([['root.x', 10_000]]), new Set(), new Map(), NOW)).toEqual([]);
  });
});

describe('plan: 18.0 channel options', () => {
  it('paused: the channel yields nothing and blocks its sub-channels, others run (OCA/queue#960)', () => {
    const jobs = [job('a'), job('a.b'), job('a.b.c'), job('other'), job(null)];
    const result = plan(input('root:10,a:2:paused,a.b:1', { due: jobs }));
    expect(ids(result.jobs)).toEqual([jobs[3]!.id, jobs[4]!.id]);
    expect(result.blocked).toContainEqual({ channel: 'root.a', reason: 'paused' });
    // a paused root yields nothing at all
    expect(planned('root:10:paused,x:2', { due: [job('x'), job(null)] })).toEqual([]);
    // removing the option restores the configured capacity
    expect(planned('root:10,a:2', { due: [job('a'), job('a'), job('a')] })).toHaveLength(2);
  });

  it('paused channels are closed, so their subtree is left out of the candidate read', () => {
    const tree = channelTree(parseChannels('root:4,a:2:paused,b:1'));
    expect(closedChannels(tree, new Map(), new Set(), new Map(), NOW).map((c) => c.name)).toEqual(['root.a']);
  });

  it('capacity_default: each auto-created sub-channel holds its own capacity under the parent (OCA/queue#767)', () => {
    const jobs = [job('sub.auto'), job('sub.auto'), job('sub.auto'), job('sub.other'), job('sub.other')];
    // root.sub.auto takes 2 (its default), root.sub.other 1 more: root.sub's own 3 is the cap
    expect(planned('root:10,sub:3:capacity_default=2', { due: jobs })).toEqual([
      jobs[0]!.id,
      jobs[1]!.id,
      jobs[3]!.id,
    ]);
    // a running job in a grandchild counts in its auto-created parent
    expect(
      planned('root:10,sub:5:capacity_default=2', {
        due: [job('sub.auto'), job('sub.auto')],
        running: new Map([['sub.auto.deep', 1]]),
      }),
    ).toHaveLength(1);
  });

  it('sequential_default: an auto-created sub-channel with a failed job is blocked, its siblings are not', () => {
    const jobs = [job('seq.a'), job('seq.b')];
    const result = plan(
      input('root:10,seq:4:capacity_default=1:sequential_default', {
        due: jobs,
        failedChannels: new Set(['root.seq.a']),
      }),
    );
    expect(ids(result.jobs)).toEqual([jobs[1]!.id]);
    expect(result.blocked).toContainEqual({ channel: 'root.seq.a', reason: 'sequential_failed' });
  });

  it('sequential_default: the eta-wait rule applies to the auto-created sub-channel', () => {
    const waiting = job('seq.a', { eta: NOW + 60_000, priority: 1 });
    const due = [job('seq.a'), job('seq.b')];
    const result = plan(
      input('root:10,seq:4:capacity_default=1:sequential_default', { due, waiting: [waiting] }),
    );
    expect(ids(result.jobs)).toEqual([due[1]!.id]);
    expect(result.blocked).toContainEqual({ channel: 'root.seq.a', reason: 'sequential_eta' });
  });
});
