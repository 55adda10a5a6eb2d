// runBounded: the tick's bounded concurrency, counted from the tasks themselves (no clock involved).
import { describe, expect, it } from 'vitest';
import { type BoundedTask, runBounded } from '../shared/bounded.ts';
import { fitsAtOnce, serverOf } from '../shared/fleet.ts';

/** Tasks that each wait for the test to release them, recording what runs alongside them. */
function gatedTasks(keys: (string | null)[], weight = 1) {
  const running = new Set<number>();
  const heldByKey = new Map<string, number>();
  const seen = { peak: 0, peakByKey: new Map<string, number>(), order: [] as number[] };
  const gates: (() => void)[] = [];
  const tasks: BoundedTask<number>[] = keys.map((key, index) => ({
    key,
    weight,
    run: () =>
      new Promise<number>((resolve) => {
        running.add(index);
        seen.order.push(index);
        seen.peak = Math.max(seen.peak, running.size);
        if (key !== null) {
          heldByKey.set(key, (heldByKey.get(key) ?? 0) + weight);
          seen.peakByKey.set(key, Math.max(seen.peakByKey.get(key) ?? 0, heldByKey.get(key)!));
        }
        gates.push(() => {
          running.delete(index);
          if (key !== null) heldByKey.set(key, heldByKey.get(key)! - weight);
          resolve(index);
        });
      }),
  }));
  /** Releases every task as soon as it starts, one macrotask at a time, until all are done. */
  const drain = async (done: Promise<unknown>) => {
    let finished = false;
    void done.then(() => {
      finished = true;
    });
    while (!finished) {
      await new Promise((resolve) => setImmediate(resolve));
      gates.shift()?.();
    }
  };
  return { tasks, seen, drain };
}

describe('runBounded', () => {
  it('never runs more than `concurrency` tasks at once, and runs every task once, in order', async () => {
    const { tasks, seen, drain } = gatedTasks(Array.from({ length: 50 }, () => null));
    const result = runBounded(tasks, { concurrency: 4, perKey: 100 });
    await drain(result);
    const { settled, peak } = await result;
    expect(seen.peak).toBe(4);
    expect(peak).toBe(4);
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : -1))).toEqual(
      Array.from({ length: 50 }, (_, i) => i),
    );
    expect(seen.order).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('keeps the weight held per key within perKey, without holding back other keys', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => (i < 20 ? 'db1:5432' : `db${i}:5432`));
    const { tasks, seen, drain } = gatedTasks(keys, 5);
    const result = runBounded(tasks, { concurrency: 8, perKey: 10 });
    await drain(result);
    const { peakByKey } = await result;
    expect(seen.peakByKey.get('db1:5432')).toBe(10);
    expect(peakByKey.get('db1:5432')).toBe(10);
    // The ten tasks of other servers were not queued behind the twenty of db1: they started early.
    expect(seen.order.slice(0, 8).filter((index) => index >= 20).length).toBeGreaterThan(0);
  });

  it('runs a task heavier than perKey alone on its key rather than never', async () => {
    const { tasks, seen, drain } = gatedTasks(['a', 'a', 'a'], 9);
    const result = runBounded(tasks, { concurrency: 3, perKey: 5 });
    await drain(result);
    expect((await result).settled.every((s) => s.status === 'fulfilled')).toBe(true);
    expect(seen.peakByKey.get('a')).toBe(9);
    expect(seen.peak).toBe(1);
  });

  it('settles a throwing task as rejected and goes on', async () => {
    const tasks: BoundedTask<string>[] = [
      {
        key: null,
        weight: 1,
        run: () => {
          throw new Error('boom');
        },
      },
      { key: null, weight: 1, run: async () => 'ok' },
    ];
    const { settled } = await runBounded(tasks, { concurrency: 1, perKey: 1 });
    expect(settled[0]).toMatchObject({ status: 'rejected' });
    expect(settled[1]).toEqual({ status: 'fulfilled', value: 'ok' });
    expect((await runBounded([], { concurrency: 1, perKey: 1 })).settled).toEqual([]);
  });
});

describe('fleet limits', () => {
  const limits = { tickTargetConcurrency: 4, maxConnectionsPerServer: 10 };
  const at = (url: string) => ({ reach: { via: 'database' as const, databaseUrl: url } });

  it('names a database server by host and port', () => {
    expect(serverOf(at('postgres://u:p@db.example.com/odoo'))).toBe('db.example.com:5432');
    expect(serverOf(at('postgres://u:p@10.0.0.5:6432/odoo'))).toBe('10.0.0.5:6432');
    expect(serverOf(at('postgres:///odoo?host=/var/run/postgresql'))).toBe('/var/run/postgresql:5432');
    expect(serverOf({ reach: { via: 'bridge', token: 't' } })).toBeNull();
  });

  it('gives windows only when every target fits at once', () => {
    const two = [at('postgres://a/x'), at('postgres://a/y')];
    expect(fitsAtOnce(two, limits, 5)).toBe(true);
    expect(fitsAtOnce([...two, at('postgres://a/z')], limits, 5)).toBe(false);
    expect(fitsAtOnce([...two, at('postgres://b/z')], limits, 5)).toBe(true);
    expect(
      fitsAtOnce(
        ['b', 'c', 'd', 'e', 'f'].map((host) => at(`postgres://${host}/x`)),
        limits,
        1,
      ),
    ).toBe(false);
  });
});
