// The embedded PostgreSQL from a clone under a private directory, run as root (a container's 0700
// /root): PostgreSQL refuses root, so it runs as user `postgres`, which cannot pass that directory to
// reach the binaries npm put in node_modules, nor a data directory inside it.
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from './support/postgres.ts';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const asRoot = process.getuid?.() === 0;
if (!asRoot)
  console.log('[embedded] skipped: only root hands the server to another user (run as root to check)');

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function dir(mode: number): string {
  const path = mkdtempSync(join(tmpdir(), 'qjr-embedded-test-'));
  chmodSync(path, mode);
  made.push(path);
  return path;
}

/** Every file under `root` that others may read (a password file must never be one). */
function worldReadable(root: string): string[] {
  const found: string[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && (statSync(path).mode & 0o004) !== 0) found.push(path);
    }
  };
  walk(root);
  return found;
}

describe.skipIf(!asRoot)('embedded PostgreSQL from a clone under a private directory, as root', () => {
  it('starts, with the binaries it cannot reach in node_modules copied where it can, and leaves nothing', async () => {
    // The clone: <private 0700>/r, whose test/, package.json and node_modules are this checkout's.
    // Node keeps the symlinked paths (--preserve-symlinks), so the binaries are found under the
    // private directory exactly as after `git clone … private/r && npm ci`.
    const clone = join(dir(0o700), 'r');
    mkdirSync(clone);
    for (const name of ['test', 'package.json', 'node_modules'])
      symlinkSync(realpathSync(join(ROOT, name)), join(clone, name));
    const tmp = dir(0o755);
    const script = `
      const { startEmbeddedPostgres } = await import(${JSON.stringify(join(clone, 'test/support/postgres.ts'))});
      const server = await startEmbeddedPostgres();
      console.log(server.description);
      await server.stop();`;
    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
      (resolve, reject) => {
        const child = spawn(process.execPath, ['--preserve-symlinks', '--input-type=module', '-e', script], {
          cwd: clone,
          env: { ...process.env, TMPDIR: tmp },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk) => (stdout += chunk));
        child.stderr.on('data', (chunk) => (stderr += chunk));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      },
    );
    expect(run.stderr).not.toMatch(/Unhandled 'error' event/);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^embedded PostgreSQL \d+/);
    // No password file, readable or not; the only thing left is the copy of the binaries (reused).
    expect(worldReadable(tmp).filter((path) => !path.includes('/qjr-pg-bin-'))).toEqual([]);
    expect(readdirSync(tmp).filter((name) => !name.startsWith('qjr-pg-bin-'))).toEqual([]);
  }, 120_000);

  it('refuses a data directory under a private directory in one line saying why and what to do', async () => {
    const privateDir = dir(0o700);
    const dataDir = join(privateDir, 'data');
    const error = await startEmbeddedPostgres({ dataDir }).then(
      async (server) => {
        await server.stop();
        return null;
      },
      (failure: unknown) => failure as Error,
    );
    expect(error?.message).toContain(`user postgres, which cannot reach the data directory ${dataDir}`);
    expect(error?.message).toContain(`${privateDir} is private to its owner`);
    expect(error?.message).toContain(`chmod o+x ${privateDir}`);
    expect(error?.message).not.toContain('\n');
    expect(existsSync(dataDir)).toBe(false);
  });
});
