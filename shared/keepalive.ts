/**
 * Keepalive: GET every configured URL at once so Odoo's HTTP workers do not fall asleep, and report
 * each one's health. URLs are KEEPALIVE_URLS when set, else each target's `{odooUrl}/web/health`.
 * A target with a pending job due now or within DUE_SOON_SECONDS is pinged even when KEEPALIVE_URLS
 * leaves it out: Odoo is then awake when the job's eta comes (and a backlog never waits on a sleeper).
 */
import type { Agent } from 'undici';
import type { Config, HttpAuth, Target } from './config.ts';
import { undici } from './lazy.ts';
import type { Logger } from './log.ts';
import { errorMessage, redact } from './redact.ts';
import * as sql from './sql.ts';
import { odooUrl, openTarget } from './target.ts';
import { query } from './transport.ts';

/** How far ahead a due job makes its target worth waking. */
export const DUE_SOON_SECONDS = 300;
/** A sleeping Odoo may take a while to answer its first request; a dead one must not hold the report. */
export const KEEPALIVE_TIMEOUT_MS = 10_000;

export interface PingResult {
  /** Safe to print: KEEPALIVE_URLS entries are redacted, target URLs carry no credentials. */
  url: string;
  /** The target the URL belongs to; null for a KEEPALIVE_URLS entry. */
  target: string | null;
  /** Why it was pinged: listed in KEEPALIVE_URLS, a target's health URL, or a target with a job due soon. */
  reason: 'configured' | 'target' | 'due_soon';
  /** Answered 2xx in time. */
  ok: boolean;
  status: number | null;
  latencyMs: number;
  error: string | null;
}

export interface KeepaliveReport {
  ok: boolean;
  results: PingResult[];
  /** Problems that prevented a ping (a target whose Odoo URL cannot be known) or a due-soon check. */
  errors: { target: string; error: string }[];
  durationMs: number;
}

export interface KeepaliveOptions {
  timeoutMs?: number;
  dueSoonSeconds?: number;
}

interface Ping {
  url: string;
  target: string | null;
  reason: PingResult['reason'];
  auth: HttpAuth | null;
}

function healthUrl(base: string): string {
  return `${base}/web/health`;
}

/**
 * What to ping for one target: its health URL (when no KEEPALIVE_URLS), or only when a job is due soon.
 * A database error matters only when the URL depends on it (no ODOO_URL) or when no list is configured.
 */
async function targetPing(
  target: Target,
  config: Config,
  log: Logger,
  dueSoonSeconds: number,
): Promise<Ping | null> {
  const runtime = openTarget(target, log, config);
  try {
    let reason: Ping['reason'] = 'target';
    if (config.keepaliveUrls !== null) {
      const rows = await query<{ due: boolean }>(runtime.transport, sql.pendingDueSoon, [dueSoonSeconds]);
      if (!rows[0]?.due) return null;
      reason = 'due_soon';
    }
    return { url: healthUrl(await odooUrl(runtime)), target: target.name, reason, auth: target.httpAuth };
  } finally {
    await runtime.close();
  }
}

async function ping(agent: Agent, entry: Ping, timeoutMs: number): Promise<PingResult> {
  const started = performance.now();
  const result: PingResult = {
    url: redact(entry.url),
    target: entry.target,
    reason: entry.reason,
    ok: false,
    status: null,
    latencyMs: 0,
    error: null,
  };
  const url = new URL(entry.url);
  // A proxy in front of Odoo may protect /web/health with the same basic auth as /queue_job/runjob;
  // a KEEPALIVE_URLS entry may carry its own credentials (user:password@host).
  const auth =
    entry.auth ??
    (url.username
      ? { user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) }
      : null);
  const headers: Record<string, string> = { 'user-agent': 'queue-job-runner keepalive' };
  if (auth)
    headers.authorization = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;
  try {
    const response = await agent.request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      headers,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body.dump({ limit: 64 * 1024 }).catch(() => {});
    result.status = response.statusCode;
    result.ok = response.statusCode >= 200 && response.statusCode < 300;
    if (!result.ok) result.error = `answered ${response.statusCode}`;
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
    result.error = timedOut ? `no answer within ${timeoutMs} ms` : errorMessage(error);
  }
  result.latencyMs = Math.round(performance.now() - started);
  return result;
}

export async function keepalive(
  config: Config,
  log: Logger,
  options: KeepaliveOptions = {},
): Promise<KeepaliveReport> {
  const started = Date.now();
  const timeoutMs = options.timeoutMs ?? KEEPALIVE_TIMEOUT_MS;
  const dueSoonSeconds = options.dueSoonSeconds ?? DUE_SOON_SECONDS;
  const errors: KeepaliveReport['errors'] = [];
  const pings: Ping[] = (config.keepaliveUrls ?? []).map((url) => ({
    url,
    target: null,
    reason: 'configured' as const,
    auth: null,
  }));

  const perTarget = await Promise.allSettled(
    config.targets.map((target) => targetPing(target, config, log, dueSoonSeconds)),
  );
  perTarget.forEach((outcome, index) => {
    const target = config.targets[index]!;
    if (outcome.status === 'rejected') {
      const error = errorMessage(outcome.reason);
      errors.push({ target: target.name, error });
      log.error(`keepalive: cannot tell what to ping: ${error}`, { target: target.name, event: 'keepalive' });
      return;
    }
    const entry = outcome.value;
    // One GET per URL: a due-soon target already in the list is not pinged twice.
    if (entry && !pings.some((p) => p.url === entry.url)) pings.push(entry);
  });

  const agent = new (undici().Agent)({
    connect: { timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  let results: PingResult[];
  try {
    results = await Promise.all(pings.map((entry) => ping(agent, entry, timeoutMs)));
  } finally {
    await agent.close().catch(() => {});
  }
  for (const result of results) {
    const fields = { event: 'keepalive', url: result.url, target: result.target, status: result.status };
    if (result.ok) log.debug('keepalive ok', { ...fields, latencyMs: result.latencyMs });
    else log.warning(`keepalive failed: ${result.error}`, { ...fields, latencyMs: result.latencyMs });
  }
  // With a list configured, a failed due-soon check loses a courtesy ping, not a configured one.
  const blocking = config.keepaliveUrls === null ? errors.length : 0;
  const report: KeepaliveReport = {
    ok: blocking === 0 && results.every((r) => r.ok),
    results,
    errors,
    durationMs: Date.now() - started,
  };
  log.info('keepalive done', {
    event: 'keepalive',
    ok: report.ok,
    pinged: results.length,
    healthy: results.filter((r) => r.ok).length,
    durationMs: report.durationMs,
  });
  return report;
}
