/**
 * What a caller (an HTTP client, a CLI user) asks for, and the two ways it can be wrong: invalid input
 * (HTTP 400, exit status 2) and a target that is not configured (HTTP 404, exit status 2). Both are the
 * caller's to fix, so they are never reported as a failure of the runner.
 */
import type { z } from 'zod';
import type { Config, Target } from './config.ts';

export interface Issue {
  /** Dotted path into the input ('' for the whole input). */
  path: string;
  message: string;
  code: string;
}

export class InputError extends Error {
  readonly issues: Issue[];
  constructor(message: string, issues: Issue[] = []) {
    super(issues.length > 0 ? `${message}: ${describeIssues(issues)}` : message);
    this.name = 'InputError';
    this.issues = issues;
  }
}

export class UnknownTargetError extends Error {
  readonly target: string;
  readonly known: string[];
  constructor(target: string, known: string[]) {
    super(`unknown target "${target}" (configured: ${known.join(', ')})`);
    this.name = 'UnknownTargetError';
    this.target = target;
    this.known = known;
  }
}

/**
 * A manual run of a channel that is neither configured nor holds a job: most likely a typo in a scheduled
 * run, which would otherwise do nothing forever without a word (HTTP 404, exit status 2).
 */
export class UnknownChannelError extends Error {
  readonly channel: string;
  readonly configured: string[];
  constructor(target: string, channel: string, configured: string[]) {
    super(
      `unknown channel "${channel}" on target ${target}: neither configured (${configured.join(', ')}) nor holding jobs`,
    );
    this.name = 'UnknownChannelError';
    this.channel = channel;
    this.configured = configured;
  }
}

/** zod issues as plain data; zod 4 leaves the received value out unless asked, so no input is echoed. */
export function issuesOf(error: z.ZodError): Issue[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join('.'),
    message: issue.message,
    code: issue.code,
  }));
}

export function describeIssues(issues: readonly Issue[]): string {
  return issues.map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message)).join('; ');
}

/** The named targets, in configuration order; every target when no name is given. */
export function selectTargets(config: Config, names?: readonly string[]): Target[] {
  if (!names || names.length === 0) return config.targets;
  const known = config.targets.map((target) => target.name);
  for (const name of names) if (!known.includes(name)) throw new UnknownTargetError(name, known);
  return config.targets.filter((target) => names.includes(target.name));
}

/** The one target an operation acts on: optional with a single target, required with several. */
export function chooseTarget(config: Config, name: string | undefined): Target {
  if (name === undefined) {
    if (config.targets.length === 1) return config.targets[0]!;
    const known = config.targets.map((target) => target.name).join(', ');
    throw new InputError('invalid request', [
      { path: 'target', message: `required: several targets are configured (${known})`, code: 'custom' },
    ]);
  }
  return selectTargets(config, [name])[0]!;
}
