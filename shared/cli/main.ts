#!/usr/bin/env node
/**
 * `queue-job-runner`, the package's bin. SIGINT/SIGTERM abort the run (a tick stops starting passes
 * and settles its dispatches); a second signal exits at once.
 */
// First: on a Node.js too old, one clear line instead of an obscure failure in a later module.
import '../node-version.ts';
import { run } from './run.ts';

const abort = new AbortController();
let signals = 0;
const onSignal = (signal: NodeJS.Signals) => {
  signals += 1;
  if (signals > 1) process.exit(signal === 'SIGINT' ? 130 : 143);
  process.stderr.write(
    `${JSON.stringify({ severity: 'WARNING', message: `${signal}: stopping after in-flight work settles`, time: new Date().toISOString() })}\n`,
  );
  abort.abort(new Error(signal));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const code = await run(process.argv.slice(2), {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  signal: abort.signal,
});
process.exitCode = code;
process.off('SIGINT', onSignal);
process.off('SIGTERM', onSignal);
// Everything is closed by now; should a stray handle remain, it must not keep a cron job alive.
setTimeout(() => process.exit(code), 5000).unref();
