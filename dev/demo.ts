// `npm run demo`: the runner end to end with nothing to install or configure. An embedded PostgreSQL
// with Odoo's queue_job schema, the Odoo stand-in, a seeded mix of jobs, and the production tick in
// window mode until every job is done or failed; a live view while it runs, a summary at the end.
//
//   node dev/demo.ts [--jobs N] [--seed S] [--window S] [--timeout S] [--helper-indexes] [--bridge] [--keep] [--json]
//                    [--admin-url URL] [--pg-port N]
//   node dev/demo.ts --stop        stop the server a `--keep` run left running, and remove it
import { parseArgs } from 'node:util';
import { runDemo } from './demo/run.ts';
import { MIN_JOBS } from './demo/scenario.ts';
import type { DemoServer } from './demo/server.ts';
import { stopKeptServer } from './demo/server.ts';

const USAGE = `usage: node dev/demo.ts [options]
  --jobs N         jobs to run (default 2000, at least ${MIN_JOBS})
  --seed S         seed of the workload: which jobs fail, retry, wait, how long they run (default 1)
  --window S       tick window in seconds; a new tick is fired every S seconds (default 10)
  --timeout S      give up after S seconds (default 120)
  --helper-indexes create the optional helper indexes first (what \`queue-job-runner optimize\` does)
  --bridge         reach the database through the companion Odoo addon (its Python core; needs python3
                   with psycopg2), as on Odoo.sh, instead of a database URL
  --keep           leave the database running at the end (in .demo-pg/, or in the temp dir when the
                   checkout is private and you are root) and print its URL
  --stop           stop a server left by --keep and remove its data directory
  --json           print the summary as JSON on stdout (progress and text summary go to stderr)
  --admin-url URL  use this PostgreSQL server (a superuser URL) instead of an embedded one; the demo
                   creates its own database there and drops it at the end
  --pg-port N      port of the embedded PostgreSQL (default: a free one)`;

function positive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive whole number`);
  return value;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      jobs: { type: 'string' },
      seed: { type: 'string' },
      window: { type: 'string' },
      timeout: { type: 'string' },
      keep: { type: 'boolean', default: false },
      'helper-indexes': { type: 'boolean', default: false },
      bridge: { type: 'boolean', default: false },
      stop: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'admin-url': { type: 'string' },
      'pg-port': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.stop) {
    console.log(await stopKeptServer());
    return 0;
  }

  // Ctrl-C once: stop starting work, settle what was sent, clean everything up. Twice: stop now.
  const interrupt = new AbortController();
  let server: DemoServer | null = null;
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals === 1) {
      process.stderr.write(
        `\n${signal}: stopping (settling dispatches, closing the stand-in, stopping PostgreSQL); again to force\n`,
      );
      interrupt.abort();
      return;
    }
    server?.forceStopSync();
    process.stderr.write('\x1b[?25hforced stop\n');
    process.exit(130);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);

  const result = await runDemo({
    jobs: positive('jobs', values.jobs, 2000),
    seed: positive('seed', values.seed, 1),
    windowSeconds: positive('window', values.window, 10),
    timeoutSeconds: positive('timeout', values.timeout, 120),
    keep: values.keep,
    helperIndexes: values['helper-indexes'],
    bridge: values.bridge,
    json: values.json,
    adminUrl: values['admin-url'],
    pgPort: values['pg-port'] === undefined ? undefined : positive('pg-port', values['pg-port'], 0),
    signal: interrupt.signal,
    onServer: (started) => {
      server = started;
    },
  });
  return result.exitCode;
}

let settled = false;
// Every path ends in process.exit below. Reaching an empty event loop instead means some step waited
// on something that can no longer happen: that is a failure, not the success Node would report.
process.on('beforeExit', () => {
  if (settled) return;
  process.stderr.write(
    'demo failed: it stopped waiting with nothing left to wait for (a bug; please report it)\n',
  );
  process.exit(1);
});

main(process.argv.slice(2)).then(
  // Exit explicitly: nothing left running (a stand-in socket, a timer) keeps the process alive.
  (code) => {
    settled = true;
    process.exit(code);
  },
  (error: unknown) => {
    settled = true;
    process.stderr.write(
      `${process.stderr.isTTY ? '\x1b[?25h' : ''}demo failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  },
);
