/**
 * A tick: every target served in parallel, each isolated (its own pool, dispatcher and errors), so one
 * broken database or Odoo never stalls the others. Overlapping ticks, duplicate Scheduler deliveries
 * and manual runs are harmless: the database rows decide who sends what.
 */
import type { Config, Target } from './config.ts';
import { selectTargets } from './input.ts';
import type { Logger } from './log.ts';
import { errorMessage } from './redact.ts';
import { openTarget } from './target.ts';
import { emptySummary, serve, type TargetSummary } from './window.ts';

export interface TickSummary {
  ok: boolean;
  windowSeconds: number;
  targets: TargetSummary[];
  /** Names of the targets that were not served. */
  failing: string[];
  durationMs: number;
}

export interface TickOptions {
  windowSeconds?: number;
  signal?: AbortSignal;
  /** Serve only these targets (by name). */
  targets?: readonly string[];
}

async function serveTarget(
  target: Target,
  config: Config,
  log: Logger,
  options: TickOptions,
): Promise<TargetSummary> {
  const runtime = openTarget(target, log, config);
  try {
    return await serve(runtime, config, {
      windowSeconds: options.windowSeconds ?? config.windowSeconds,
      signal: options.signal,
    });
  } finally {
    await runtime.close();
  }
}

export async function tick(config: Config, log: Logger, options: TickOptions = {}): Promise<TickSummary> {
  const started = Date.now();
  const windowSeconds = options.windowSeconds ?? config.windowSeconds;
  // An unknown name is a caller's mistake: UnknownTargetError, not a silently empty tick.
  const chosen = selectTargets(config, options.targets);
  const settled = await Promise.allSettled(chosen.map((target) => serveTarget(target, config, log, options)));
  const targets = settled.map((result, index): TargetSummary => {
    if (result.status === 'fulfilled') return result.value;
    const name = chosen[index]!.name;
    const message = `target failed: ${errorMessage(result.reason)}`;
    log.error(message, { target: name });
    return { ...emptySummary(name, false), ok: false, errors: [message] };
  });
  const failing = targets.filter((t) => !t.ok).map((t) => t.target);
  const summary: TickSummary = {
    ok: failing.length === 0,
    windowSeconds,
    targets,
    failing,
    durationMs: Date.now() - started,
  };
  log.info('tick done', {
    event: 'tick',
    ok: summary.ok,
    failing,
    claimed: targets.reduce((n, t) => n + t.claimed, 0),
    dispatched: targets.reduce((n, t) => n + t.dispatched, 0),
    durationMs: summary.durationMs,
  });
  return summary;
}
