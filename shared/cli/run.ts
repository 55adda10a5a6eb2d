/**
 * The CLI: picks the command, parses its options (node:util parseArgs, strict), loads the same
 * configuration as the functions (environment), registers its secrets, and runs the command with a
 * logger on stderr (JSON lines) while the command's output goes to stdout. Never throws: every path
 * ends in an exit status (0 done, 1 the work failed, 2 usage or configuration error).
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.ts';
import { InputError, UnknownChannelError, UnknownTargetError } from '../input.ts';
import { createLogger } from '../log.ts';
import { logProcessWarnings } from '../node-warnings.ts';
import { errorMessage, redact } from '../redact.ts';
import { registerStartupSecrets } from '../secrets.ts';
import { VERSION } from '../version.ts';
import { settingWarnings } from '../warnings.ts';
import { type Command, EXIT_FAILED, EXIT_OK, EXIT_USAGE, type OptionValues, UsageError } from './command.ts';
import { dispatchCommand } from './dispatch.ts';
import { keepaliveCommand } from './keepalive.ts';
import { optimizeCommand } from './optimize.ts';
import { statusCommand } from './status.ts';
import { tickCommand } from './tick.ts';

export const COMMANDS: readonly Command[] = [
  tickCommand,
  keepaliveCommand,
  dispatchCommand,
  statusCommand,
  optimizeCommand,
];

export interface CliIo {
  env: Partial<Record<string, string | undefined>>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Aborted to stop a tick's window early (SIGINT/SIGTERM). */
  signal: AbortSignal;
}

function overallHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const list = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n');
  return `Usage: queue-job-runner <command> [options]

A serverless jobrunner for Odoo's queue_job: the same work as the tick, keepalive, dispatch and
status functions, from a shell, a plain cron or a Kubernetes CronJob.

Commands:
${list}

Run 'queue-job-runner <command> --help' for a command's options. Configuration comes from the
environment (DATABASE_URL or QUEUE_JOB_TARGETS, ODOO_URL, ODOO_QUEUE_JOB_CHANNELS, ...); logs go to
stderr as JSON lines, the command's output to stdout.

Exit status: 0 done, 1 the work failed, 2 usage or configuration error.
'queue-job-runner --version' prints the release.
`;
}

function usage(io: CliIo, message: string, command?: Command): number {
  const hint = command ? `queue-job-runner ${command.name} --help` : 'queue-job-runner --help';
  io.stderr(`queue-job-runner: ${redact(message)}\nRun '${hint}' for usage.\n`);
  return EXIT_USAGE;
}

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr(overallHelp());
    return EXIT_USAGE;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    io.stdout(`queue-job-runner ${VERSION}\n`);
    return EXIT_OK;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const about = rest[0] === undefined ? undefined : COMMANDS.find((c) => c.name === rest[0]);
    io.stdout(about ? `${about.help}\n` : overallHelp());
    return EXIT_OK;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) return usage(io, `unknown command "${name}"`);

  let values: OptionValues;
  try {
    const parsed = parseArgs({
      args: [...rest],
      options: { ...command.options, help: { type: 'boolean', short: 'h', default: false } },
      strict: true,
      allowPositionals: false,
    });
    values = parsed.values as OptionValues;
    if (values.help) {
      io.stdout(`${command.help}\n`);
      return EXIT_OK;
    }
    command.check?.(values);
  } catch (error) {
    // parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes for unknown or malformed options.
    return usage(io, errorMessage(error).replace(/ \(ERR_PARSE_ARGS_\w+\)$/, ''), command);
  }

  // Registered before loading, so even a configuration error cannot echo a secret of the environment.
  registerStartupSecrets(io.env);
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(io.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr(`queue-job-runner: configuration error: ${redact(error.message)}\n`);
      return EXIT_USAGE;
    }
    io.stderr(`queue-job-runner: configuration could not be read: ${errorMessage(error)}\n`);
    return EXIT_USAGE;
  }
  registerStartupSecrets(io.env, config);
  const log = createLogger({
    level: config.logLevel,
    write: (line) => io.stderr(`${line}\n`),
    fields: { command: command.name },
  });
  // node-postgres' sslmode warning (and any other) as a JSON log line, not plain text on stderr.
  logProcessWarnings(() => log);
  for (const { setting, message } of settingWarnings(io.env)) {
    log.warning(message, { event: 'setting_warning', setting });
  }

  try {
    // The net under the reports (their errors are already redacted): nothing printed carries a secret.
    const out = (text: string) => io.stdout(redact(text));
    return await command.run(values, { config, log, out, signal: io.signal });
  } catch (error) {
    if (
      error instanceof InputError ||
      error instanceof UnknownTargetError ||
      error instanceof UnknownChannelError ||
      error instanceof UsageError
    ) {
      return usage(io, errorMessage(error), command);
    }
    const message = `${command.name} failed: ${errorMessage(error)}`;
    log.error(message, { event: 'command_failed' });
    return EXIT_FAILED;
  }
}
