// What bench/tick-child.ts runs of the runner, as one module for the `bundle` entry: bundled by
// `buildOnce` (common.ts) with package.json's `bundle` settings, the way Cloud Run loads the deployed code.
export { loadConfig } from '../shared/config.ts';
export { createLogger } from '../shared/log.ts';
export { tick } from '../shared/tick.ts';
