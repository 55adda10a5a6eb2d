/**
 * The deployed module (package.json `main` is its bundle, dist/bundle/functions.mjs; `npm run bundle`).
 * Stack traces point into the TypeScript sources: source maps are switched on before the functions'
 * code loads (Node reads a file's map only if support is on when the file loads), so no NODE_OPTIONS
 * flag is needed; the framework waits for this module's top-level await before it looks up the target.
 */
// A namespace import: on a Node.js without the function (< 22.14) the version check still gets to speak.
import * as nodeModule from 'node:module';

nodeModule.setSourceMapsSupport?.(true);
await import('./index.ts');
