/**
 * Dependencies loaded on first use rather than at import: a process pays for undici only once it sends
 * a request, and for pg only once it opens a direct connection. Both are CommonJS packages, so a
 * synchronous require keeps the constructors that use them synchronous, and stack traces point into the
 * packages' own files.
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

/** What the runner uses of undici: a Pool per origin, an Agent, and `request` on both. */
export interface Undici {
  Pool: typeof import('undici').Pool;
  Agent: typeof import('undici').Agent;
}

let undiciModule: Undici | undefined;
let pgModule: typeof import('pg') | undefined;

/**
 * undici's Pool and Agent without the rest of the package. Its index loads fetch, WebSocket,
 * EventSource, the mock agents, the cache stores and every interceptor, none of which the runner uses:
 * on the bench machine (idle, Node 24, undici 8.13) `require('undici')` took 78 ms and +27 MB RSS, these
 * three files 35 ms and +15 MB (median of 3 each). What the index adds for these two classes is one line,
 * `Object.assign(Dispatcher.prototype, api)`; only `request` of that API is used. undici has no
 * `exports` map, so these paths are reachable; test/lazy.test.ts fails if an upgrade moves them.
 */
export function undici(): Undici {
  if (undiciModule === undefined) {
    const Dispatcher = load('undici/lib/dispatcher/dispatcher') as { prototype: Record<string, unknown> };
    Dispatcher.prototype.request ??= load('undici/lib/api/api-request');
    undiciModule = {
      Pool: load('undici/lib/dispatcher/pool') as Undici['Pool'],
      Agent: load('undici/lib/dispatcher/agent') as Undici['Agent'],
    };
  }
  return undiciModule;
}

export function pg(): typeof import('pg') {
  pgModule ??= load('pg') as typeof import('pg');
  return pgModule;
}
