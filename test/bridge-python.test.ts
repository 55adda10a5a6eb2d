// The companion addon's Python core (odoo/queue_job_runner_bridge), tested with Python's own unittest
// against this run's PostgreSQL: a fresh database holding the Odoo 17 schema, named to the Python
// tests by QJR_BRIDGE_TEST_DSN. Without a Python that has psycopg2 the test skips and says why; in CI
// (CI or QJR_REQUIRE_PYTHON set, as .ci/run does) it fails instead, naming what to install.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, type TestDatabase } from './support/db.ts';
import { ADDON_TESTS, findPython, REPOSITORY_ROOT } from './support/python.ts';

const python = findPython();
const required = Boolean(process.env.CI || process.env.QJR_REQUIRE_PYTHON);
const skipReason = python.ok || required ? undefined : python.reason;
if (skipReason) console.warn(`[bridge-python] skipped: ${skipReason}`);

interface UnittestRun {
  code: number | null;
  output: string;
}

function runUnittest(command: string, dsn: string): Promise<UnittestRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, ['-m', 'unittest', 'discover', '-s', ADDON_TESTS, '-v'], {
      cwd: REPOSITORY_ROOT,
      env: { ...process.env, QJR_BRIDGE_TEST_DSN: dsn, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('companion addon, Python core', () => {
  let db: TestDatabase | undefined;

  beforeAll(async () => {
    if (python.ok) db = await createDatabase(inject('adminDatabaseUrl'));
  });

  afterAll(async () => {
    await db?.close();
  });

  it.skipIf(skipReason !== undefined)(
    skipReason ? `skipped: ${skipReason}` : 'passes python3 -m unittest discover',
    async () => {
      if (!python.ok) throw new Error(`the addon's Python tests must run here: ${python.reason}`);
      const run = await runUnittest(python.command, db!.url);
      const ran = /^Ran (\d+) tests? in \S+$/m.exec(run.output);
      const verdict = /^(OK|FAILED)\b.*$/m.exec(run.output.slice(ran?.index ?? 0));
      console.log(
        `[bridge-python] python ${python.python}, psycopg2 ${python.psycopg2}: ` +
          `${ran?.[0] ?? 'no summary'}; ${verdict?.[0] ?? 'no verdict'}`,
      );
      expect(run.code, run.output).toBe(0);
      expect(Number(ran?.[1] ?? 0), run.output).toBeGreaterThan(0);
      // With a database given, only the real-catalogue tests may skip (before catalogue.json exists).
      const skips = [...run.output.matchAll(/\.\.\. skipped '([^']*)'/g)].map((match) => match[1] ?? '');
      expect(
        skips.filter((reason) => !reason.includes('catalogue.json')),
        run.output,
      ).toEqual([]);
    },
    180_000,
  );
});
