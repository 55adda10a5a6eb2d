// The window's channel heads (shared/heads.ts), alone: what they know after a fill, how notifications
// and claims change it, and when they refuse to answer (the pass then reads the backlog in full).
import { describe, expect, it } from 'vitest';
import { HEADS_REFRESH_MS, Heads } from '../shared/heads.ts';
import { type Candidate, compareJobs } from '../shared/plan.ts';
import { seededRandom } from './support/random.ts';

const NOW = Date.UTC(2026, 11, 1, 12);
const AT = 1_000_000; // local clock of the fill

function job(id: number, channel: string | null, priority = 10, eta: number | null = null): Candidate {
  return { id, uuid: `u${id}`, channel, priority, dateCreated: NOW - 60_000 + id, eta };
}

const everything = () => true;
const ids = (jobs: Candidate[] | null) => jobs?.map((j) => j.id) ?? null;

describe('channel heads', () => {
  it('know nothing until filled, and everything a fill returned, per channel in OCA order', () => {
    const heads = new Heads();
    expect(heads.warm).toBe(false);
    expect(heads.stale(AT)).toBe(true);
    heads.fill(
      [job(3, 'root.a', 10), job(1, 'root.a', 20), job(2, null), job(4, 'root.b', 5)],
      10,
      null,
      NOW,
      AT,
    );
    expect(heads.warm).toBe(true);
    expect(heads.stale(AT + 1)).toBe(false);
    expect(ids(heads.take(10, everything))?.sort()).toEqual([1, 2, 3, 4]);
    // Per channel, OCA order: root.a's priority 10 job before its priority 20 one.
    expect(ids(heads.take(1, (c) => c === 'root.a'))).toEqual([3]);
    expect(heads.size).toBe(4);
  });

  it('refuse to answer for a channel that may hold more than they know, once fewer are left than asked', () => {
    const heads = new Heads();
    // Depth 2: root.a returned 2 (maybe more exist), root.b returned 1 (all it has).
    heads.fill([job(1, 'root.a'), job(2, 'root.a'), job(3, 'root.b')], 2, null, NOW, AT);
    expect(ids(heads.take(2, everything))).toEqual([1, 2, 3]);
    expect(heads.take(3, everything)).toBeNull(); // root.a may have a third
    expect(ids(heads.take(3, (c) => c !== 'root.a'))).toEqual([3]); // closed channels do not count
    heads.claimed([1]);
    expect(heads.take(2, everything)).toBeNull();
    expect(ids(heads.take(1, everything))).toEqual([2, 3]);
    // A complete channel is never short: it holds all there is.
    heads.claimed([3]);
    expect(ids(heads.take(1, (c) => c === 'root.b'))).toEqual([]);
  });

  it('apply notifications: gone jobs leave, pending ones go where they now belong', () => {
    const heads = new Heads();
    heads.fill([job(1, 'root.a'), job(2, 'root.a'), job(3, 'root.b')], 10, null, NOW, AT);
    // u1 was claimed elsewhere (not returned: not pending), u3 moved to root.a with priority 1,
    // u9 is new in an unknown channel, u8 is new with a future eta.
    heads.update(
      ['u1', 'u3', 'u9', 'u8'],
      [job(3, 'root.a', 1), job(9, 'root.c'), job(8, 'root.a', 10, NOW + 3_000)],
      NOW,
    );
    expect(ids(heads.take(10, (c) => c === 'root.a'))).toEqual([3, 2]);
    expect(ids(heads.take(10, (c) => c === 'root.b'))).toEqual([]);
    expect(ids(heads.take(10, (c) => c === 'root.c'))).toEqual([9]);
    expect(heads.wakeAt).toBe(NOW + 3_000);
    // The future job's eta is a deadline: past it, read in full (it has become due meanwhile).
    expect(heads.stale(AT + 2_999)).toBe(false);
    expect(heads.stale(AT + 3_000)).toBe(true);
  });

  it('leave out a notified job beyond the known part of a channel that may hold more', () => {
    const heads = new Heads();
    heads.fill([job(1, 'root.a', 5), job(2, 'root.a', 6)], 2, null, NOW, AT);
    heads.update(['u7', 'u8'], [job(7, 'root.a', 9), job(8, 'root.a', 1)], NOW);
    // 8 ranks first and is kept; 7 ranks after the last known job: unknown territory, left out.
    expect(ids(heads.take(3, everything))).toEqual([8, 1, 2]);
    expect(heads.size).toBe(3);
  });

  it('go stale after the refresh period, and know nothing after a reset', () => {
    const heads = new Heads();
    heads.fill([job(1, 'root')], 10, NOW + 3_600_000, NOW, AT);
    expect(heads.stale(AT + HEADS_REFRESH_MS - 1)).toBe(false);
    expect(heads.stale(AT + HEADS_REFRESH_MS)).toBe(true);
    heads.reset();
    expect(heads.warm).toBe(false);
    expect(heads.take(1, everything)).toEqual([]);
    heads.update(['u1'], [job(1, 'root')], NOW); // ignored: nothing to update
    expect(heads.size).toBe(0);
  });

  it('turn the database clock into the local one for the eta deadline', () => {
    const heads = new Heads();
    // The database clock runs 5 s ahead of the local one.
    heads.fill([], 10, NOW + 1000, NOW, NOW - 5000);
    expect(heads.stale(NOW - 5000 + 999)).toBe(false);
    expect(heads.stale(NOW - 5000 + 1000)).toBe(true);
  });

  it('agree with a fresh sort of what is pending after any sequence of notifications and claims', () => {
    // Model: the set of pending due jobs. Heads of depth D, updated by notifications and claims, must
    // answer each channel's first `need` jobs exactly as a fresh read would, or refuse (null).
    const next = seededRandom(12);
    const random = {
      int: (low: number, high: number) => low + Math.floor(next() * (high - low + 1)),
      pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    };
    let answered = 0;
    for (let round = 0; round < 300; round++) {
      const channels = ['root', 'root.a', 'root.b', null];
      const pending = new Map<number, Candidate>();
      let nextId = 1;
      const make = () => {
        const id = nextId++;
        return job(id, random.pick(channels), random.pick([1, 5, 10, 10, 20]));
      };
      for (let i = random.int(0, 30); i > 0; i--) {
        const j = make();
        pending.set(j.id, j);
      }
      const depth = random.int(1, 8);
      const firsts = (all: Candidate[], channel: string | null, n: number) =>
        all
          .filter((j) => j.channel === channel)
          .sort(compareJobs)
          .slice(0, n);
      const heads = new Heads();
      const fill = () =>
        heads.fill(
          channels.flatMap((c) => firsts([...pending.values()], c, depth)),
          depth,
          null,
          NOW,
          AT,
        );
      fill();
      for (let step = 0; step < 20; step++) {
        const roll = random.int(0, 3);
        if (roll === 0) {
          // Jobs created, changed (priority, channel) or finished elsewhere, then notified.
          const uuids: string[] = [];
          for (let i = random.int(1, 4); i > 0; i--) {
            const kind = random.int(0, 2);
            const existing = [...pending.values()];
            if (kind === 0 || existing.length === 0) {
              const j = make();
              pending.set(j.id, j);
              uuids.push(j.uuid);
            } else if (kind === 1) {
              const j = random.pick(existing);
              const moved = { ...j, channel: random.pick(channels), priority: random.pick([1, 10, 20]) };
              pending.set(j.id, moved);
              uuids.push(j.uuid);
            } else {
              const j = random.pick(existing);
              pending.delete(j.id);
              uuids.push(j.uuid);
            }
          }
          // As the listener drains them: each uuid once, however often it was notified.
          const named = [...new Set(uuids)];
          const rows = named.flatMap((u) => [...pending.values()].filter((j) => j.uuid === u));
          heads.update(named, rows, NOW);
        } else {
          const need = random.int(1, 4);
          const taken = heads.take(need, everything);
          if (taken === null) {
            // As a pass does: read in full, then ask again; a fresh fill always answers.
            fill();
            continue;
          }
          answered += 1;
          for (const channel of channels) {
            expect(ids(taken.filter((j) => j.channel === channel))).toEqual(
              ids(firsts([...pending.values()], channel, need)),
            );
          }
          const claimed = taken.filter(() => random.int(0, 1) === 1).map((j) => j.id);
          for (const id of claimed) pending.delete(id);
          heads.claimed(claimed);
        }
      }
    }
    expect(answered).toBeGreaterThan(1000);
  });
});
