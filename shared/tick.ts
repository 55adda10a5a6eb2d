/**
 * A tick: every target served in parallel, each isolated (its own pool, dispatcher and errors), so one
 * broken database or Odoo never stalls the others. Overlapping ticks, duplicate Scheduler deliveries
 * and manual runs are harmless: the database rows decide who sends what.
 */
import type { Config, Target } from './config.ts';
import type { Logger } from './log.ts';
import { errorMessage } from './redact.ts';
import { openTarget } from './target.ts';
import { serve, type TargetSummary } from './window.ts';

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
  const runtime = openTarget(target, log);
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
  const chosen = options.targets
    ? config.targets.filter((t) => options.targets!.includes(t.name))
    : config.targets;
  const settled = await Promise.allSettled(chosen.map((target) => serveTarget(target, config, log, options)));
  const targets = settled.map((result, index): TargetSummary => {
    if (result.status === 'fulfilled') return result.value;
    const name = chosen[index]!.name;
    const message = `target failed: ${errorMessage(result.reason)}`;
    log.error(message, { target: name });
    return { ...emptyFailure(name), errors: [message] };
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

function emptyFailure(name: string): TargetSummary {
  return {
    target: name,
    ok: false,
    paused: false,
    upstreamRunner: false,
    passes: 0,
    claimed: 0,
    dispatched: 0,
    outcomes: {
      accepted: 0,
      failed: 0,
      running: 0,
      unreachable: 0,
      unavailable: 0,
      misconfigured: 0,
      unexpected: 0,
    },
    reverted: 0,
    swept: { enqueued: 0, started: 0, failed: 0 },
    liveness: null,
    errors: [],
    durationMs: 0,
  };
}
