/**
 * `tick` (Cloud Scheduler, every minute): serves every target for a window, then answers with the
 * TickSummary: 200 when every target was served, 503 naming the failing ones otherwise. The window is
 * TICK_WINDOW_SECONDS; `?window=S` may shorten it, never lengthen it (the function's timeout is sized
 * for the configured one). `?targets=a,b` serves only those targets: one Scheduler job per group splits a
 * large fleet (README, "Many databases"). A duplicate delivery (same X-CloudScheduler-ScheduleTime) is harmless by
 * construction, since the rows decide what is sent: the header is only logged.
 */
import { tick } from '../shared/tick.ts';
import { endpoint, HttpError, queryParameter } from './http.ts';

export const tickFunction = endpoint('tick', ['GET', 'POST'], async ({ req, config, log, signal }) => {
  const requested = queryParameter(req, 'window');
  let windowSeconds = config.windowSeconds;
  if (requested !== undefined) {
    if (!/^\d{1,6}$/.test(requested)) throw new HttpError(400, 'window must be a whole number of seconds');
    windowSeconds = Math.min(Number(requested), config.windowSeconds);
  }
  const names = queryParameter(req, 'targets');
  const targets = names
    ?.split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  if (names !== undefined && targets!.length === 0)
    throw new HttpError(400, 'targets must list target names, separated by commas');
  const scheduler = {
    scheduleTime: req.get('X-CloudScheduler-ScheduleTime'),
    schedulerJob: req.get('X-CloudScheduler-JobName'),
  };
  const tlog = scheduler.scheduleTime ? log.child(scheduler) : log;
  tlog.info('tick started', { event: 'tick_start', windowSeconds });
  const summary = await tick(config, tlog, { windowSeconds, signal, ...(targets ? { targets } : {}) });
  if (summary.ok) return { status: 200, json: summary };
  return { status: 503, json: { error: `targets not served: ${summary.failing.join(', ')}`, ...summary } };
});
