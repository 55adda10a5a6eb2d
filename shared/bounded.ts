/**
 * Runs tasks with two limits: at most `concurrency` at once, and at most `perKey` units of weight at once
 * for tasks that share a key (the tick's key is the database server, the weight the connections a target
 * may hold). A task whose key is full waits without blocking tasks of other keys; otherwise tasks start in
 * the order given. Every task runs exactly once and settles on its own (like Promise.allSettled).
 */

export interface BoundedTask<T> {
  /** Tasks with the same key share `perKey`; null = no key limit. */
  key: string | null;
  /** Units of `perKey` the task holds while it runs; clamped to `perKey`, so a task never waits forever. */
  weight: number;
  run(): Promise<T>;
}

export interface BoundedLimits {
  concurrency: number;
  perKey: number;
}

export interface BoundedResult<T> {
  /** In the order of the tasks given. */
  settled: PromiseSettledResult<T>[];
  /** Most tasks running at once. */
  peak: number;
  /** Most weight held at once, per key. */
  peakByKey: Map<string, number>;
}

/** The weight a task holds under `limits`: at least 1, at most the key's whole allowance. */
export function heldWeight(task: { weight: number }, limits: BoundedLimits): number {
  return Math.min(Math.max(1, Math.ceil(task.weight)), limits.perKey);
}

export function runBounded<T>(
  tasks: readonly BoundedTask<T>[],
  limits: BoundedLimits,
): Promise<BoundedResult<T>> {
  if (!(limits.concurrency >= 1) || !(limits.perKey >= 1)) throw new RangeError('limits must be at least 1');
  const settled: PromiseSettledResult<T>[] = new Array(tasks.length);
  const peakByKey = new Map<string, number>();
  const held = new Map<string, number>();
  // Waiting task indexes per key (each queue in task order): choosing the next task looks at one head per key.
  const waiting = new Map<string | null, number[]>();
  for (const [index, task] of tasks.entries()) {
    const queue = waiting.get(task.key);
    if (queue) queue.push(index);
    else waiting.set(task.key, [index]);
  }
  let running = 0;
  let peak = 0;
  let done = 0;

  return new Promise((resolve) => {
    if (tasks.length === 0) {
      resolve({ settled, peak, peakByKey });
      return;
    }
    const start = (index: number) => {
      const task = tasks[index]!;
      const weight = heldWeight(task, limits);
      running += 1;
      peak = Math.max(peak, running);
      if (task.key !== null) {
        const now = (held.get(task.key) ?? 0) + weight;
        held.set(task.key, now);
        peakByKey.set(task.key, Math.max(peakByKey.get(task.key) ?? 0, now));
      }
      // A task that throws synchronously is a rejection like any other.
      Promise.resolve()
        .then(() => task.run())
        .then(
          (value) => {
            settled[index] = { status: 'fulfilled', value };
          },
          (reason: unknown) => {
            settled[index] = { status: 'rejected', reason };
          },
        )
        .finally(() => {
          running -= 1;
          if (task.key !== null) held.set(task.key, held.get(task.key)! - weight);
          done += 1;
          if (done === tasks.length) resolve({ settled, peak, peakByKey });
          else pump();
        });
    };
    /** The earliest waiting task whose key has room for it, or null. O(keys): servers are few. */
    const next = (): number | null => {
      let best: number | null = null;
      for (const [key, queue] of waiting) {
        const head = queue[0]!;
        if (best !== null && head > best) continue;
        if (key !== null && (held.get(key) ?? 0) + heldWeight(tasks[head]!, limits) > limits.perKey) continue;
        best = head;
      }
      return best;
    };
    const pump = () => {
      while (running < limits.concurrency) {
        const index = next();
        if (index === null) return;
        const key = tasks[index]!.key;
        const queue = waiting.get(key)!;
        queue.shift();
        if (queue.length === 0) waiting.delete(key);
        start(index);
      }
    };
    pump();
  });
}
