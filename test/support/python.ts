// Finds a Python 3 that can import psycopg2, for the addon's Python tests and its HTTP stand-in
// (odoo/queue_job_runner_bridge/tests/serve.py). pyenv or a venv may shadow Debian's python3, which is
// where apt's python3-psycopg2 lives, so both are tried.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type PythonLookup =
  | { ok: true; command: string; python: string; psycopg2: string }
  | { ok: false; reason: string };

/** The repository's root (this file is test/support/python.ts). */
export const REPOSITORY_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The addon's test folder, and its HTTP stand-in for the addon. */
export const ADDON_TESTS = join(REPOSITORY_ROOT, 'odoo', 'queue_job_runner_bridge', 'tests');
export const BRIDGE_SERVE_SCRIPT = join(ADDON_TESTS, 'serve.py');

export const PYTHON_INSTALL_HINT =
  'install python3 and python3-psycopg2 (Debian: apt-get install -y python3 python3-psycopg2), ' +
  'or set QJR_PYTHON to a python3 that can import psycopg2';

const PROBE = 'import sys, psycopg2; print(sys.version.split()[0], psycopg2.__version__.split()[0])';

let cached: PythonLookup | undefined;

/** The first of $QJR_PYTHON (alone when set), python3, /usr/bin/python3 that imports psycopg2. */
export function findPython(): PythonLookup {
  if (cached) return cached;
  const candidates = process.env.QJR_PYTHON ? [process.env.QJR_PYTHON] : ['python3', '/usr/bin/python3'];
  const tried: string[] = [];
  for (const command of candidates) {
    const probe = spawnSync(command, ['-c', PROBE], { encoding: 'utf8', timeout: 20_000 });
    if (probe.error) {
      tried.push(`${command}: not found`);
      continue;
    }
    if (probe.status !== 0) {
      tried.push(`${command}: no psycopg2`);
      continue;
    }
    const [python = '?', psycopg2 = '?'] = probe.stdout.trim().split(/\s+/);
    cached = { ok: true, command, python, psycopg2 };
    return cached;
  }
  cached = { ok: false, reason: `no Python with psycopg2 (${tried.join('; ')}): ${PYTHON_INSTALL_HINT}` };
  return cached;
}
