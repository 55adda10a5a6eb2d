/**
 * Dependencies loaded on first use rather than at import: a process pays for undici (the largest of
 * them, about 200 ms and 12 MiB on the bench machine) only once it sends a request, and for pg only
 * once it opens a direct connection. Both are CommonJS packages, so a synchronous require keeps the
 * constructors that use them synchronous, and stack traces point into the packages' own files.
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

let undiciModule: typeof import('undici') | undefined;
let pgModule: typeof import('pg') | undefined;

export function undici(): typeof import('undici') {
  undiciModule ??= load('undici') as typeof import('undici');
  return undiciModule;
}

export function pg(): typeof import('pg') {
  pgModule ??= load('pg') as typeof import('pg');
  return pgModule;
}
