// Small measurement helpers shared by the demo and the benchmarks.

/**
 * Epoch milliseconds with sub-millisecond resolution. `Date.now()` is whole milliseconds, too coarse for
 * latencies of a few ms; the monotonic clock anchored at the process's time origin is not.
 */
export function hiRes(): number {
  return performance.timeOrigin + performance.now();
}

/** Nearest-rank percentile (q in 0..1) of unsorted values; NaN when there are none. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

export interface Distribution {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function distribution(values: readonly number[]): Distribution {
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    n: values.length,
    p50: round(percentile(values, 0.5)),
    p95: round(percentile(values, 0.95)),
    p99: round(percentile(values, 0.99)),
    max: round(values.length === 0 ? Number.NaN : Math.max(...values)),
  };
}

export function median(values: readonly number[]): number {
  return percentile(values, 0.5);
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
  });

export { seededRandom } from '../test/support/random.ts';
