/**
 * The HTTP functions, registered under the entry-point names the Terraform deploys (one Cloud Run
 * function per name, all from this module: package.json `main`). Each function's module (and what it
 * needs: pg, undici) is loaded on its first request, so a Cloud Run service answering one of them
 * never loads the others' code.
 */

import type { HttpFunction } from '@google-cloud/functions-framework';
import * as functions from '@google-cloud/functions-framework';
import { logProcessWarnings } from '../shared/node-warnings.ts';
import { errorMessage } from '../shared/redact.ts';
import { logger } from './http.ts';
import { installIntake } from './intake.ts';

// Before the framework builds its server (it loads this module first): see functions/intake.ts.
installIntake();
logProcessWarnings(() => logger(null, 'process'));

/** A handler loaded on first call; a module that fails to load fails that request, named. */
function onFirstCall(name: string, load: () => Promise<HttpFunction>): HttpFunction {
  let handler: Promise<HttpFunction> | undefined;
  return async (req, res) => {
    handler ??= load();
    let run: HttpFunction;
    try {
      run = await handler;
    } catch (error) {
      handler = undefined;
      logger(null, name).error(`function ${name} failed to load: ${errorMessage(error)}`);
      res.status(500).json({ error: `function ${name} failed to load` });
      return;
    }
    return run(req, res);
  };
}

functions.http(
  'tick',
  onFirstCall('tick', async () => (await import('./tick.ts')).tickFunction),
);
functions.http(
  'keepalive',
  onFirstCall('keepalive', async () => (await import('./keepalive.ts')).keepaliveFunction),
);
functions.http(
  'dispatch',
  onFirstCall('dispatch', async () => (await import('./dispatch.ts')).dispatchFunction),
);
functions.http(
  'status',
  onFirstCall('status', async () => (await import('./status.ts')).statusFunction),
);
