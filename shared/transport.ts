/**
 * The one seam between the runner and a target's database (design, "Two ways to reach a database").
 * Pass, sweep, status, manual runs and dispatch speak only this: named statements of `sql.ts`, run as
 * one short transaction per `run`. Two transports implement it:
 * - direct (`direct.ts`): a PostgreSQL pool, and LISTEN for wake-ups;
 * - bridge (`bridge.ts`): HTTPS into the companion Odoo addon, which executes the same statements by
 *   name, and polling for wake-ups (Odoo.sh allows no long-lived connection).
 * Nothing above this seam holds a transaction across two `run`s, so nothing above it may rely on one:
 * a claim proves what its plan assumed (`sql.claim`).
 */
import type { Changes } from './heads.ts';
import type { Statement } from './sql.ts';

export interface Call {
  statement: Statement;
  values?: readonly unknown[];
}

export type Row = Record<string, unknown>;

export interface RunOptions {
  /** Roll back instead of committing (a read that must lock to learn something, as status does). */
  rollback?: boolean;
}

/** Wakes a target's window for its next pass. */
export interface Waker {
  /** Set when something happened since the last pass; the window clears it before each pass. */
  notified: boolean;
  /** Whether wake-ups can arrive by themselves (false: lost, or not opened yet). */
  readonly listening: boolean;
  /** The longest the window sleeps between passes when nothing wakes it. */
  readonly pollMs: number;
  /**
   * The same right after a pass that claimed: jobs are flowing and slots free up soon. A waker that
   * hears every change (LISTEN) needs no sooner pass; a poller does, or capacity idles for a poll.
   */
  readonly busyPollMs: number;
  /**
   * The jobs notified since the last call (LISTEN only): what lets a window keep its heads instead of
   * re-reading the backlog each pass. Absent on a waker that hears nothing but time (the bridge).
   */
  drain?(): Changes;
  /** Starts (or restarts) listening; a failure leaves the window polling. */
  open(): Promise<void>;
  /** Resolves on a wake-up, at `until` (local ms), or on abort; whichever comes first. */
  wait(until: number, signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export interface Transport {
  /** Where the target's database is reached, safe to print (no credentials). */
  readonly description: string;
  /** Runs the calls in order in one short transaction; answers each call's rows, in order. */
  run(calls: readonly Call[], options?: RunOptions): Promise<Row[][]>;
  /** What wakes this target's window: LISTEN on the direct path, a poll through the bridge. */
  waker(): Waker;
  close(): Promise<void>;
}

/** One statement's rows. */
export async function query<T>(
  transport: Transport,
  statement: Statement,
  values: readonly unknown[] = [],
): Promise<T[]> {
  const [rows] = await transport.run([{ statement, values }]);
  return (rows ?? []) as T[];
}

/** Waits until `until` (local ms) or abort. */
export function pause(until: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, until - Date.now()));
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * A waker with nothing to listen to: the window passes every `pollMs`, and every quarter of it while
 * jobs flow. Measured through the bridge (bench/bridge.ts, root:32, 2,000 no-op jobs): 25 jobs/s when
 * every pass waited the full 1 s poll; the quarter costs about four requests a second while claiming.
 */
export class Poller implements Waker {
  notified = false;
  readonly listening = true;
  readonly pollMs: number;
  readonly busyPollMs: number;
  constructor(pollMs: number) {
    this.pollMs = pollMs;
    this.busyPollMs = Math.max(50, Math.round(pollMs / 4));
  }
  async open(): Promise<void> {}
  wait(until: number, signal?: AbortSignal): Promise<void> {
    return pause(until, signal);
  }
  async close(): Promise<void> {}
}
