/**
 * The deployed module (package.json `main` is its bundle, dist/bundle/functions.mjs; `npm run bundle`).
 * Stack traces point into the TypeScript sources: source maps are switched on before the functions'
 * code loads (Node reads a file's map only if support is on when the file loads), so no NODE_OPTIONS
 * flag is needed; the framework waits for this module's top-level await before it looks up the target.
 * No compile cache here (the CLI has one, shared/cli/bin.ts): a Cloud Run instance starts with an empty
 * file system and loads these modules once, so a cache written at run time would never be read.
 */
// A namespace import: it links even on a Node.js without the function (< 22.14).
import * as nodeModule from 'node:module';

nodeModule.setSourceMapsSupport?.(true);
await import('./index.ts');
