// Starts the PostgreSQL server the tests (and the demo) run against. Real PostgreSQL always: a server
// given by URL, else a testcontainers container when a Docker engine answers, else an embedded server
// from npm-shipped binaries, so `npm test` needs no Docker.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { type LaunchedServer, launch, temporaryDataDir } from './embedded.ts';

export type PostgresKind = 'url' | 'testcontainers' | 'embedded';

export interface PostgresServer {
  kind: PostgresKind;
  /** Superuser URL able to CREATE DATABASE; its path names the maintenance database. */
  adminUrl: string;
  /** One human line: kind, version, where (no password). */
  description: string;
  stop(): Promise<void>;
  /** Embedded only: immediate shutdown and removal, synchronously (a second Ctrl-C). */
  stopSync?(): void;
}

export interface StartPostgresOptions {
  /** Use this server; default `process.env.TEST_DATABASE_URL`. Pass `null` to ignore the variable. */
  url?: string | null;
  /** Try testcontainers when a Docker engine answers (default true). */
  docker?: boolean;
  /** `max_connections` of a server we start: stand-in workers, pools and runners add up (default 300). */
  maxConnections?: number;
  /** Keep fsync on for a server we start (default false: tests need speed, not durability). */
  durable?: boolean;
  /** Embedded only: data directory; when given it is kept across runs (default: fresh temp dir, removed on stop). */
  dataDir?: string;
  /** Embedded only: TCP port (default: a free one). */
  port?: number;
  /** Embedded only: stop and clean up on SIGINT/SIGTERM/SIGHUP (default true; the demo handles them). */
  handleSignals?: boolean;
  /** More server settings (`-c name=value`), e.g. the benchmarks' pg_stat_statements. */
  settings?: Record<string, string>;
}

export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const url = options.url === undefined ? process.env.TEST_DATABASE_URL : options.url;
  if (url) return useExistingServer(url);
  if (options.docker !== false && (await dockerAnswers())) return startContainer(options);
  return startEmbeddedPostgres(options);
}

export async function stopPostgres(server: PostgresServer): Promise<void> {
  await server.stop();
}

/** A URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<invalid url>';
  }
}

async function useExistingServer(url: string): Promise<PostgresServer> {
  const version = await serverVersion(url);
  const where = new URL(url);
  return {
    kind: 'url',
    adminUrl: url,
    description: `TEST_DATABASE_URL server (PostgreSQL ${version}) at ${where.hostname}:${where.port || 5432}`,
    stop: async () => {},
  };
}

// Cheap hints first: importing testcontainers alone costs ~0.7 s, so skip it when no engine can exist.
function dockerHinted(): boolean {
  if (process.env.DOCKER_HOST || process.env.TESTCONTAINERS_HOST_OVERRIDE) return true;
  const candidates = [
    '/var/run/docker.sock',
    join(homedir(), '.docker/run/docker.sock'),
    join(homedir(), '.docker/desktop/docker.sock'),
    join(homedir(), '.testcontainers.properties'),
  ];
  if (process.env.XDG_RUNTIME_DIR) candidates.push(join(process.env.XDG_RUNTIME_DIR, 'docker.sock'));
  return candidates.some((path) => existsSync(path));
}

async function dockerAnswers(timeoutMs = 3000): Promise<boolean> {
  if (!dockerHinted()) return false;
  let timer: NodeJS.Timeout | undefined;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('docker probe timed out')), timeoutMs);
    });
    await Promise.race([getContainerRuntimeClient(), timeout]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

function serverFlags(options: StartPostgresOptions): string[] {
  const flags = ['-c', `max_connections=${options.maxConnections ?? 300}`];
  if (!options.durable) {
    flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  }
  for (const [name, value] of Object.entries(options.settings ?? {})) flags.push('-c', `${name}=${value}`);
  return flags;
}

async function startContainer(options: StartPostgresOptions): Promise<PostgresServer> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const password = randomBytes(12).toString('hex');
  const container = await new GenericContainer('postgres:17')
    .withEnvironment({ POSTGRES_PASSWORD: password })
    .withCommand(['postgres', ...serverFlags(options)])
    .withExposedPorts(5432)
    // The image logs "ready" once for its init server and once for the real one.
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  const host = container.getHost();
  const port = container.getMappedPort(5432);
  const adminUrl = `postgres://postgres:${password}@${host}:${port}/postgres`;
  const version = await serverVersion(adminUrl);
  return {
    kind: 'testcontainers',
    adminUrl,
    description: `testcontainers postgres:17 (PostgreSQL ${version}) at ${host}:${port}`,
    stop: async () => {
      await container.stop();
    },
  };
}

export async function startEmbeddedPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const persistent = options.dataDir !== undefined;
  // Not inside a mkdtemp dir: that is 0700 root, and as root the server runs as the `postgres` user.
  const databaseDir = options.dataDir ?? temporaryDataDir();
  // A kept data directory keeps its password; a throwaway one gets a fresh one.
  const password = persistent ? 'postgres' : randomBytes(12).toString('hex');
  const port = options.port ?? (await freePort());
  let server: LaunchedServer;
  try {
    server = await launch({
      dataDir: databaseDir,
      port,
      password,
      flags: serverFlags(options),
      removeOnStop: !persistent,
      durable: options.durable,
      handleSignals: options.handleSignals,
    });
  } catch (error) {
    throw new Error(
      `embedded PostgreSQL did not start in ${databaseDir}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const adminUrl = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  const version = await serverVersion(adminUrl).catch(async (error: unknown) => {
    await server.stop();
    throw error;
  });
  return {
    kind: 'embedded',
    adminUrl,
    description: `embedded PostgreSQL ${version} at 127.0.0.1:${port} (${persistent ? databaseDir : 'temp dir'})`,
    stop: () => server.stop(),
    stopSync: () => server.stopSync(),
  };
}

async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url, application_name: 'qjr-test-harness' });
  await client.connect();
  try {
    // Read-only: tells which server the run got.
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return rows[0]?.server_version ?? 'unknown';
  } finally {
    await client.end();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}
