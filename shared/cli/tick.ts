/** `queue-job-runner tick [--window S] [--target T …] [--json]`: the tick function's work, from a shell. */

import { selectTargets } from '../input.ts';
import { tick } from '../tick.ts';
import type { TargetSummary } from '../window.ts';
import {
  type Command,
  EXIT_FAILED,
  EXIT_OK,
  jsonOption,
  printJson,
  targetOption,
  texts,
  wholeNumber,
} from './command.ts';
import { counts, duration } from './format.ts';

/** As TICK_WINDOW_SECONDS: long enough for any cron, short enough that a stuck tick is noticed. */
const MAX_WINDOW_SECONDS = 3500;

function describe(target: TargetSummary): string {
  if (target.paused) return `${target.target}: paused (channels start with root:0), nothing dispatched`;
  const head = `${target.target}: ${target.ok ? (target.warnings.length > 0 ? 'ok, with warnings' : 'ok') : 'FAILED'}`;
  const work =
    `${target.passes} pass${target.passes === 1 ? '' : 'es'}, ${target.claimed} claimed, ` +
    `${target.dispatched} dispatched (${counts(target.outcomes)}), ${target.reverted} reverted, ` +
    `swept ${counts(target.swept)}, ${duration(target.durationMs)}`;
  const errors = target.errors.map((error) => `\n  error: ${error}`).join('');
  const warnings = target.warnings.map((warning) => `\n  warning: ${warning}`).join('');
  return `${head}: ${work}${errors}${warnings}`;
}

export const tickCommand: Command = {
  name: 'tick',
  summary: 'claim and dispatch runnable jobs of every target, then keep listening for a window',
  help: `Usage: queue-job-runner tick [--window S] [--target NAME ...] [--json]

Sweeps dead jobs, claims runnable jobs under the channel rules and sends them to Odoo, for every
configured target, TICK_TARGET_CONCURRENCY at a time; with a window, keeps listening (LISTEN/NOTIFY, etas) for S seconds.
SIGINT/SIGTERM stops starting passes; in-flight dispatches settle before it exits.

Options:
  --window S      seconds to keep listening (default TICK_WINDOW_SECONDS, else 0 = one pass)
  --target NAME   serve only this target (repeatable)
  --json          print the TickSummary as JSON
  -h, --help      show this help

Exit status: 0 every target served, 1 a target was not served, 2 usage or configuration error.`,
  options: { window: { type: 'string' }, ...targetOption, ...jsonOption },
  check(values) {
    wholeNumber(values, 'window', 0, MAX_WINDOW_SECONDS);
  },
  async run(values, { config, log, out, signal }) {
    const targets = texts(values, 'target');
    if (targets) selectTargets(config, targets);
    const summary = await tick(config, log, {
      windowSeconds: wholeNumber(values, 'window', 0, MAX_WINDOW_SECONDS) ?? config.windowSeconds,
      signal,
      ...(targets ? { targets } : {}),
    });
    if (values.json) printJson(out, summary);
    else {
      const served = summary.targets.length - summary.failing.length;
      out(`${summary.targets.map(describe).join('\n')}\n`);
      out(
        `tick: ${served} of ${summary.targets.length} target(s) served in ${duration(summary.durationMs)}\n`,
      );
    }
    return summary.ok ? EXIT_OK : EXIT_FAILED;
  },
};
