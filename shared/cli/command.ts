/**
 * What a CLI command is: its options (node:util parseArgs), its help, and its work. Commands print
 * their result on stdout (human-readable, or JSON with --json) and return the exit status; logs go to
 * stderr as JSON lines. Exit status: 0 done, 1 the work failed, 2 usage or configuration error.
 */
import type { ParseArgsOptionsConfig } from 'node:util';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface CommandContext {
  config: Config;
  log: Logger;
  /** Writes the command's output (stdout). */
  out: (text: string) => void;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
}

export interface Command {
  name: string;
  /** One line for the overall help. */
  summary: string;
  /** The command's full help text. */
  help: string;
  options: ParseArgsOptionsConfig;
  /** Checks the options before any configuration is read; throws UsageError. */
  check?(values: OptionValues): void;
  run(values: OptionValues, context: CommandContext): Promise<number>;
}

/** Wrong command line: the message says what, the command's help says how. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const jsonOption = { json: { type: 'boolean', default: false } } as const;
export const targetOption = { target: { type: 'string', multiple: true } } as const;

export function text(values: OptionValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function texts(values: OptionValues, name: string): string[] | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string');
}

export function flag(values: OptionValues, name: string): boolean {
  return values[name] === true;
}

/** A whole number option within [min, max]; undefined when absent. */
export function wholeNumber(
  values: OptionValues,
  name: string,
  min: number,
  max: number,
): number | undefined {
  const raw = text(values, name);
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) throw new UsageError(`--${name} must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max)
    throw new UsageError(`--${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

export function printJson(out: (text: string) => void, value: unknown): void {
  out(`${JSON.stringify(value, null, 2)}\n`);
}
