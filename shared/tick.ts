/**
 * A tick: every target served, TICK_TARGET_CONCURRENCY at a time and within MAX_CONNECTIONS_PER_SERVER
 * (fleet.ts), each isolated (its own pool, dispatcher and errors), so one broken database or Odoo never
 * stalls the others. Overlapping ticks, duplicate Scheduler deliveries
 * and manual runs are harmless: the database rows decide who sends what.
 */
import { runBounded } from './bounded.ts';
import type { Config, Target } from './config.ts';
import { connectionsPerTarget, fitsAtOnce, serverOf, windowsDroppedMessage } from './fleet.ts';
import { selectTargets } from './input.ts';
import type { Logger } from './log.ts';
import { errorMessage } from './redact.ts';
import { openTarget } from './target.ts';
import { emptySummary, serve, type TargetSummary } from './window.ts';

export interface TickSummary {
  ok: boolean;
  windowSeconds: number;
  targets: TargetSummary[];
  /** Most targets served at once (at most TICK_TARGET_CONCURRENCY). */
  targetsAtOnce: number;
  /** Names of the targets that were not served. */
  failing: string[];
  /** Served targets that need attention (started jobs no signal can judge), one entry per warning. */
  warnings: { target: string; warning: string }[];
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
  const requested = options.windowSeconds ?? config.windowSeconds;
  // An unknown name is a caller's mistake: UnknownTargetError, not a silently empty tick.
  const chosen = selectTargets(config, options.targets);
  // A window holds its slot and its connections throughout: all targets at once, or one pass each.
  const windowed = requested === 0 || fitsAtOnce(chosen, config, connectionsPerTarget(requested));
  const windowSeconds = windowed ? requested : 0;
  if (!windowed)
    log.warning(windowsDroppedMessage(chosen.length, config, requested), { event: 'windows_dropped' });
  const perTarget = connectionsPerTarget(windowSeconds);
  const { settled, peak } = await runBounded(
    chosen.map((target) => ({
      key: serverOf(target),
      weight: perTarget,
      run: () => serveTarget(target, config, log, { ...options, windowSeconds }),
    })),
    { concurrency: config.tickTargetConcurrency, perKey: config.maxConnectionsPerServer },
  );
  const targets = settled.map((result, index): TargetSummary => {
    if (result.status === 'fulfilled') return result.value;
    const name = chosen[index]!.name;
    const message = `target failed: ${errorMessage(result.reason)}`;
    log.error(message, { target: name });
    return { ...emptySummary(name, false), ok: false, errors: [message] };
  });
  const failing = targets.filter((t) => !t.ok).map((t) => t.target);
  const warnings = targets.flatMap((t) => t.warnings.map((warning) => ({ target: t.target, warning })));
  const summary: TickSummary = {
    ok: failing.length === 0,
    windowSeconds,
    targets,
    targetsAtOnce: peak,
    failing,
    warnings,
    durationMs: Date.now() - started,
  };
  log.info('tick done', {
    event: 'tick',
    ok: summary.ok,
    failing,
    warnings: warnings.length,
    claimed: targets.reduce((n, t) => n + t.claimed, 0),
    dispatched: targets.reduce((n, t) => n + t.dispatched, 0),
    durationMs: summary.durationMs,
  });
  return summary;
}
