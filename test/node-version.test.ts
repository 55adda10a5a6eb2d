// A Node.js older than 22.18 is stopped with one sentence by `npm install` (the preinstall script), the
// command and the demo, instead of ERR_UNKNOWN_FILE_EXTENSION or "Map.groupBy is not a function".
// The old Node.js is the system's /usr/bin/node when it is older; otherwise those cases are skipped.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, ensureBuilt } from './support/cli.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SENTENCE =
  /^queue-job-runner needs Node >= 22\.18 \(this is v\d+\.\d+\.\d+\): install Node\.js 22\.18 or newer/m;
const OLD_NODE = '/usr/bin/node';
const oldVersion = existsSync(OLD_NODE)
  ? execFileSync(OLD_NODE, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim()
  : null;
const [major = 99, minor = 0] = (oldVersion ?? '99.0').split('.').map(Number);
const tooOld = oldVersion !== null && (major < 22 || (major === 22 && minor < 18));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

beforeAll(() => ensureBuilt());

function runWith(node: string, args: string[]) {
  return spawnSync(node, args, { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH } });
}

/** The preinstall script as npm runs it (sh -c), with `node` being the given binary. */
function preinstall(node: string) {
  return spawnSync('sh', ['-c', pkg.scripts.preinstall], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { PATH: `${dirname(node)}:${process.env.PATH}` },
  });
}

describe('the Node.js version check', () => {
  it('declares the engine and lets this Node.js through', () => {
    expect(pkg.engines.node).toBe('>=22.18');
    expect(preinstall(process.execPath).status).toBe(0);
    expect(runWith(process.execPath, ['dev/check-node.cjs']).status).toBe(0);
    expect(pkg.scripts.demo).toMatch(/^node dev\/check-node\.cjs && /);
  });

  it.skipIf(!tooOld)(
    `stops npm install, the command and the demo on Node ${oldVersion} with one sentence`,
    () => {
      for (const [label, result] of [
        ['preinstall', preinstall(OLD_NODE)],
        ['command', runWith(OLD_NODE, [CLI, 'status'])],
        ['demo', runWith(OLD_NODE, ['dev/check-node.cjs'])],
      ] as const) {
        expect(result.status, label).toBe(1);
        expect(result.stderr, label).toMatch(SENTENCE);
        expect(result.stderr, label).not.toMatch(/ERR_UNKNOWN_FILE_EXTENSION|groupBy|at /);
      }
    },
  );
});
