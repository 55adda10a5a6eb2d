// The bundles `npm run build` makes. The functions (package.json `main`, dist/bundle/functions.mjs):
// loaded as the functions-framework loads it, it registers the four functions with the framework's own
// registry (the framework stays outside the bundle), and the code it loads has its source map read, so
// stack traces name the TypeScript sources. The command (package.json `bin`, dist/bundle/cli.mjs) keeps
// Node's compile cache in the temporary directory, unless NODE_DISABLE_COMPILE_CACHE says not to.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from './support/cli.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

beforeAll(async () => {
  await ensureBuilt();
}, 120_000);

describe('the functions bundle', () => {
  it('registers every function and maps its code to the sources', async () => {
    const script = `
      import { readdirSync, readFileSync } from 'node:fs';
      import { findSourceMap } from 'node:module';
      import { join, resolve } from 'node:path';
      import { pathToFileURL } from 'node:url';
      import { getFunction } from '@google-cloud/functions-framework/testing';
      const { main } = JSON.parse(readFileSync('package.json', 'utf8'));
      await import(pathToFileURL(resolve(main)).href);
      const registered = ['tick', 'keepalive', 'dispatch', 'status'].filter((name) => typeof getFunction(name) === 'function');
      const dir = resolve(main, '..');
      const sources = readdirSync(dir)
        .filter((file) => file.endsWith('.mjs'))
        .flatMap((file) => findSourceMap(join(dir, file))?.payload.sources ?? []);
      const error = await (async () => { try { await getFunction('status')({ }, null); } catch (e) { return e; } })();
      console.log(JSON.stringify({
        main,
        registered,
        mapsIndex: sources.some((source) => source.endsWith('functions/index.ts')),
        stack: String(error?.stack ?? ''),
      }));
    `;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '--no-warnings', '-e', script],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '' } },
    );
    const result = JSON.parse(stdout) as {
      main: string;
      registered: string[];
      mapsIndex: boolean;
      stack: string;
    };
    expect(result.main).toBe('dist/bundle/functions.mjs');
    expect(result.registered).toEqual(['tick', 'keepalive', 'dispatch', 'status']);
    expect(result.mapsIndex).toBe(true);
    // A request object without headers fails inside the handler: its frames are the .ts sources.
    expect(result.stack).toMatch(/functions\/\w+\.ts:\d+:\d+/);
  });

  // `import { z } from 'zod'` kept the whole package, its ~40 translations too: 751 KB of zod in the
  // bundle and +13.6 MB RSS on import (76.1 against 62.5 MB, bench machine); a namespace import lets
  // esbuild keep what the configuration uses (180 KB).
  it('carries only the zod the configuration uses, not its translations', () => {
    const dir = join(ROOT, 'dist', 'bundle');
    const sources = readdirSync(dir)
      .filter((file) => file.endsWith('.mjs.map'))
      .flatMap(
        (file) => (JSON.parse(readFileSync(join(dir, file), 'utf8')) as { sources: string[] }).sources,
      );
    const zod = sources.filter((source) => source.includes('node_modules/zod/'));
    expect(zod.length).toBeGreaterThan(0);
    expect(zod.filter((source) => source.includes('/locales/') && !source.endsWith('/en.js'))).toEqual([]);
  });
});

describe('the command bundle', () => {
  it('keeps a compile cache in the temporary directory, and none when told not to', async () => {
    const run = async (extra: Record<string, string>) => {
      const dir = mkdtempSync(join(tmpdir(), 'qjr-compile-cache-'));
      try {
        const { stdout } = await promisify(execFile)(
          process.execPath,
          [join(ROOT, 'dist', 'bundle', 'cli.mjs'), '--version'],
          {
            env: { PATH: process.env.PATH ?? '', TMPDIR: dir, ...extra },
          },
        );
        const cache = join(dir, 'node-compile-cache');
        const entries = existsSync(cache) ? readdirSync(cache, { recursive: true }).length : 0;
        return { stdout: stdout.trim(), entries };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };
    const cached = await run({});
    expect(cached.stdout).toMatch(/^queue-job-runner \d+\.\d+\.\d+$/);
    expect(cached.entries).toBeGreaterThan(1);
    expect((await run({ NODE_DISABLE_COMPILE_CACHE: '1' })).entries).toBe(0);
  });
});
