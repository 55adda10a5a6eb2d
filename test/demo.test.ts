// `npm run demo` end to end, small: the same command (`node dev/demo.ts`), 200 jobs, summary as JSON.
// It runs against this test run's PostgreSQL server (--admin-url), in a database of its own that it
// drops at the end, instead of starting an embedded server of its own as the plain command does.
import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { DemoSummary } from '../dev/demo/summary.ts';
import { bridgeUnavailable } from './support/bridge.ts';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

async function runDemo(args: string[]): Promise<{ code: number; summary: DemoSummary; stderr: string }> {
  const child = promisify(execFile)(process.execPath, [join(ROOT, 'dev', 'demo.ts'), ...args], {
    cwd: ROOT,
    maxBuffer: 16 * 1024 * 1024,
  });
  try {
    const { stdout, stderr } = await child;
    return { code: 0, summary: JSON.parse(stdout) as DemoSummary, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    if (!failed.stdout) throw new Error(`demo failed (exit ${failed.code}): ${failed.stderr}`);
    return {
      code: failed.code ?? 1,
      summary: JSON.parse(failed.stdout) as DemoSummary,
      stderr: failed.stderr ?? '',
    };
  }
}

const unavailable = bridgeUnavailable();
const transports = [
  { name: 'direct', args: [] as string[], skip: null as string | null },
  {
    name: "bridge (--bridge: the addon's Python core, no database URL)",
    args: ['--bridge'],
    skip: unavailable,
  },
];

describe.each(transports)('npm run demo, $name', ({ args, skip }) => {
  if (skip) console.warn(`[demo --bridge] skipped: ${skip}`);
  it.skipIf(skip !== null)(
    'runs 200 jobs to the end within every capacity, with the expected failures and the chain in order',
    async () => {
      const { code, summary, stderr } = await runDemo([
        '--jobs',
        '200',
        '--json',
        '--admin-url',
        inject('adminDatabaseUrl'),
        ...args,
      ]);
      const context = `demo stderr:\n${stderr.slice(-3000)}`;
      expect(summary.jobs, context).toBe(200);
      expect(summary.allTerminal, context).toBe(true);
      expect((summary.states.done ?? 0) + (summary.states.failed ?? 0), context).toBe(200);

      for (const channel of summary.channels) {
        if (channel.capacity !== null)
          expect(channel.peakRunning, channel.name).toBeLessThanOrEqual(channel.capacity);
      }
      expect(summary.channels.find((c) => c.name === 'root')?.peakRunning).toBeGreaterThan(1);

      expect(summary.failures.expected).toBeGreaterThan(0);
      expect(summary.failures).toMatchObject({
        actual: summary.failures.expected,
        unexpected: 0,
        missing: 0,
      });
      expect(summary.retries.postponements).toBeGreaterThan(0);

      expect(summary.chain.length).toBeGreaterThanOrEqual(3);
      expect(summary.chain).toMatchObject({ allDone: true, inOrder: true });
      expect(summary.sequential).toMatchObject({ inOrder: true, peakRunning: 1 });

      expect(summary.runner.errors).toEqual([]);
      expect(summary.standin.notTaken).toBe(0);
      expect(summary.pickupLatencyMs.n).toBeGreaterThan(150);
      expect(summary.ok).toBe(true);
      expect(code).toBe(0);
    },
    120_000,
  );
});

// The plain command, with its embedded PostgreSQL: each run gets a TMPDIR of its own, so "nothing left
// behind" is an empty directory (data directory and password file both live in the temp dir).
const temps: string[] = [];
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

function freshTmpdir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'qjr-demo-test-'));
  // As root the server runs as `postgres`, which must be able to reach its data directory in here.
  chmodSync(dir, 0o755);
  temps.push(dir);
  return dir;
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dev/demo.ts args` with TMPDIR set; `onLine` sees each stderr line (and may signal it). */
function runEmbedded(
  args: string[],
  tmp: string,
  onLine?: (line: string, kill: () => void) => void,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'dev', 'demo.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, TMPDIR: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let pending = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) onLine?.(line, () => child.kill('SIGINT'));
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

function listen(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address ? address.port : 0 });
    });
  });
}

describe.concurrent('npm run demo with its embedded PostgreSQL: every path exits with its cause and leaves nothing', () => {
  it("fails with exit 1 and the server's own words when PostgreSQL dies before it is ready", async () => {
    const tmp = freshTmpdir();
    // The port is taken on 127.0.0.1: PostgreSQL logs it and exits during startup.
    const { server, port } = await listen();
    try {
      const run = await runEmbedded(['--jobs', '60', '--json', '--pg-port', String(port)], tmp);
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toMatch(
        /demo failed: embedded PostgreSQL did not start in .*: PostgreSQL exited \(1\) before it was ready/,
      );
      expect(run.stderr).toMatch(/Address already in use/);
      expect(run.stdout).toBe('');
      expect(readdirSync(tmp)).toEqual([]);
    } finally {
      server.close();
    }
  }, 120_000);

  it('on Ctrl-C once PostgreSQL is up: stops, exits 130, and removes the data directory', async () => {
    const tmp = freshTmpdir();
    let interrupted = false;
    // The setup line names the database and the stand-in: PostgreSQL is up, the database is in it.
    const run = await runEmbedded(['--jobs', '60', '--json'], tmp, (line, kill) => {
      if (!interrupted && line.includes('stand-in Odoo at')) {
        interrupted = true;
        kill();
      }
    });
    expect(interrupted, run.stderr).toBe(true);
    expect(run.code, run.stderr).toBe(130);
    expect(run.stderr).toMatch(/SIGINT: stopping/);
    expect(run.stderr).toMatch(/Cleaned up: .*PostgreSQL stopped, data directory removed/);
    expect(readdirSync(tmp)).toEqual([]);
  }, 120_000);

  it('on success: exit 0, and the data directory is gone', async () => {
    const tmp = freshTmpdir();
    const run = await runEmbedded(['--jobs', '60', '--json'], tmp);
    expect(run.code, run.stderr.slice(-3000)).toBe(0);
    expect((JSON.parse(run.stdout) as DemoSummary).ok).toBe(true);
    expect(readdirSync(tmp)).toEqual([]);
  }, 120_000);
});
