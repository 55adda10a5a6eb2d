#!/usr/bin/env node
/**
 * The package's bin (package.json `bin` is its bundle, dist/bundle/cli.mjs; `npm run bundle`): source
 * maps on, so stack traces point into the TypeScript sources, and Node's compile cache on, then the
 * command (main.ts), loaded after both so that they apply to it.
 *
 * The compile cache (V8 code cache in os.tmpdir()/node-compile-cache, keyed by file content and Node
 * version; NODE_DISABLE_COMPILE_CACHE=1 turns it off) spares a cron's every run after the first the
 * parsing and compiling of the bundle (zod alone is 780 kB of it), pg and undici. One pass (tick
 * --window 0, one job), interleaved, 9 runs each: median CPU 230 ms without, 200 ms with a warm cache
 * (wall 236 -> 184 ms at load 3.9); a first run also writes the cache (+1.7 MB in tmp). Where the cache
 * cannot be written (a read-only or foreign tmp) Node carries on without it.
 */
// A namespace import: on a Node.js without these functions (< 22.14) the version check still gets to speak.
import * as nodeModule from 'node:module';

nodeModule.setSourceMapsSupport?.(true);
nodeModule.enableCompileCache?.();
await import('./main.ts');
