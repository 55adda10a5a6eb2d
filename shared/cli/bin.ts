#!/usr/bin/env node
/**
 * The package's bin (package.json `bin` is its bundle, dist/bundle/cli.mjs; `npm run bundle`): source
 * maps on, so stack traces point into the TypeScript sources, then the command (main.ts), loaded after
 * so that its map is read.
 */
// A namespace import: on a Node.js without the function (< 22.14) the version check still gets to speak.
import * as nodeModule from 'node:module';

nodeModule.setSourceMapsSupport?.(true);
await import('./main.ts');
