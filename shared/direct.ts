/**
 * The direct transport: the target's PostgreSQL, reached with its connection string. Each `run` is one
 * transaction on a pooled connection, with lock and statement timeouts (SET LOCAL, so a transaction
 * pooler is fine); statements are prepared once per connection under their catalogue name. Wake-ups
 * come from Odoo's NOTIFY trigger on a dedicated LISTEN connection.
 */
import type pg from 'pg';
import { describeDatabaseUrl } from './config.ts';
import { defaultTimeouts, openClient, openPool, type Timeouts } from './database.ts';
import type { Changes } from './heads.ts';
import * as sql from './sql.ts';
import { type Call, pause, type Row, type RunOptions, type Transport, type Waker } from './transport.ts';

/** Fallback poll period inside a window, for when notifications cannot arrive (a transaction pooler). */
export const POLL_MS = 5000;

/**
 * Most notified uuids kept between two passes; past it the window reads its heads in full instead.
 * A pass drains them: at 500 jobs/s (three notifications a job) and a pass every few ms, a few dozen.
 */
export const MAX_CHANGES = 10_000;

export class DirectTransport implements Transport {
  readonly description: string;
  private readonly pool: pg.Pool;
  private readonly databaseUrl: string;
  private readonly timeouts: Timeouts;

  constructor(databaseUrl: string, timeouts: Timeouts = defaultTimeouts) {
    this.databaseUrl = databaseUrl;
    this.timeouts = timeouts;
    this.pool = openPool(databaseUrl);
    this.description = describeDatabaseUrl(databaseUrl);
  }

  async run(calls: readonly Call[], options: RunOptions = {}): Promise<Row[][]> {
    const client = await this.pool.connect();
    // A checked-out client whose backend dies emits 'error' besides failing its query; unhandled,
    // that event would crash the process. The query's rejection is what the caller handles.
    client.on('error', ignore);
    let broken = false;
    try {
      const generic = calls.length > 0 && calls.every((call) => call.statement.generic);
      await client.query(sql.begin(this.timeouts.lockTimeoutMs, this.timeouts.statementTimeoutMs, generic));
      const results: Row[][] = [];
      for (const { statement, values } of calls) {
        const { rows } = await client.query<Row>({
          name: statement.name,
          text: statement.text,
          values: values as unknown[] | undefined,
        });
        results.push(rows);
      }
      await client.query(options.rollback ? 'ROLLBACK' : 'COMMIT');
      return results;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw error;
    } finally {
      client.off('error', ignore);
      // A client whose connection failed must not go back to the pool.
      client.release(broken);
    }
  }

  waker(): Waker {
    return new Listener(this.databaseUrl);
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {});
  }
}

function ignore(): void {}

/** Wake-ups from Odoo's NOTIFY trigger on a dedicated connection; a lost connection falls back to polling. */
class Listener implements Waker {
  readonly pollMs = POLL_MS;
  readonly busyPollMs = POLL_MS;
  notified = false;
  private client: pg.Client | null = null;
  private wake: (() => void) | null = null;
  private readonly databaseUrl: string;
  private changed = new Set<string>();
  /** A notification may have been missed since the last drain (never listened, lost, overflowed). */
  private gap = true;

  constructor(databaseUrl: string) {
    this.databaseUrl = databaseUrl;
  }

  async open(): Promise<void> {
    const client = openClient(this.databaseUrl);
    client.on('notification', (message) => {
      if (message.payload) {
        if (this.changed.size < MAX_CHANGES) this.changed.add(message.payload);
        else this.gap = true;
      }
      this.notified = true;
      this.wake?.();
    });
    // The connection died (terminated, network): wake the loop, which passes to catch up and listens again.
    const lost = () => {
      if (this.client !== client) return;
      this.client = null;
      this.gap = true;
      this.notified = true;
      this.wake?.();
    };
    client.on('error', lost);
    client.on('end', lost);
    try {
      await client.connect();
      await client.query(sql.listen);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    this.client = client;
  }

  get listening(): boolean {
    return this.client !== null;
  }

  /**
   * Complete only when listening now and since the last drain: a read that follows a drain sees every
   * change committed before it, and every later commit notifies (Odoo's trigger fires at commit).
   */
  drain(): Changes {
    const uuids = [...this.changed];
    this.changed.clear();
    const complete = this.client !== null && !this.gap;
    if (this.client !== null) this.gap = false;
    return { uuids, complete };
  }

  async wait(until: number, signal?: AbortSignal): Promise<void> {
    if (this.notified || signal?.aborted) return;
    const woken = new AbortController();
    this.wake = () => woken.abort();
    const stop = () => woken.abort();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      await pause(until, woken.signal);
    } finally {
      signal?.removeEventListener('abort', stop);
      this.wake = null;
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => {});
  }
}
