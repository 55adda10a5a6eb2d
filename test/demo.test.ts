// `npm run demo` end to end, small: the same command (`node dev/demo.ts`), 200 jobs, summary as JSON.
// It runs against this test run's PostgreSQL server (--admin-url), in a database of its own that it
// drops at the end, instead of starting an embedded server of its own as the plain command does.
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
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
