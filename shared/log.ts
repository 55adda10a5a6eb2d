/**
 * Structured logs: one JSON object per line with `severity` and `message`, as Cloud Logging reads them
 * from stdout, plus fields (target, job uuid, channel, outcome, durations). Everything is redacted.
 */
import type { LogLevel } from './config.ts';
import { redactValue } from './redact.ts';

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warning(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
  child(fields: Fields): Logger;
}

const rank: Record<LogLevel, number> = { debug: 0, info: 1, warning: 2, error: 3 };
const severity: Record<LogLevel, string> = {
  debug: 'DEBUG',
  info: 'INFO',
  warning: 'WARNING',
  error: 'ERROR',
};

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go; stdout by default (stderr for the CLI, whose stdout is its output). */
  write?: (line: string) => void;
  fields?: Fields;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const base = options.fields ?? {};
  const emit = (at: LogLevel, message: string, fields?: Fields) => {
    if (rank[at] < rank[level]) return;
    const entry = redactValue({
      severity: severity[at],
      message,
      ...base,
      ...fields,
      time: new Date().toISOString(),
    });
    write(JSON.stringify(entry));
  };
  return {
    debug: (message, fields) => emit('debug', message, fields),
    info: (message, fields) => emit('info', message, fields),
    warning: (message, fields) => emit('warning', message, fields),
    error: (message, fields) => emit('error', message, fields),
    child: (fields) => createLogger({ level, write, fields: { ...base, ...fields } }),
  };
}

/** A logger that drops everything (library use, some tests). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warning() {},
  error() {},
  child: () => silentLogger,
};
