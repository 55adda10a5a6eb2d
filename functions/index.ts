/**
 * The HTTP functions, registered under the entry-point names the Terraform deploys (one Cloud Run
 * function per name, all from this module: package.json `main`).
 */
import * as functions from '@google-cloud/functions-framework';
import { logProcessWarnings } from '../shared/node-warnings.ts';
import { dispatchFunction } from './dispatch.ts';
import { logger } from './http.ts';
import { installIntake } from './intake.ts';
import { keepaliveFunction } from './keepalive.ts';
import { statusFunction } from './status.ts';
import { tickFunction } from './tick.ts';

// Before the framework builds its server (it loads this module first): see functions/intake.ts.
installIntake();
logProcessWarnings(() => logger(null, 'process'));

functions.http('tick', tickFunction);
functions.http('keepalive', keepaliveFunction);
functions.http('dispatch', dispatchFunction);
functions.http('status', statusFunction);
