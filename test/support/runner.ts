// Builds runner configurations for tests, and a logger that keeps every line it is given.
import { type Config, loadConfig } from '../../shared/config.ts';
import { createLogger, type Logger } from '../../shared/log.ts';

export interface TestConfigOptions {
  databaseUrl: string;
  /** Reach the database through the bridge (the addon's Python core behind serve.py) instead. */
  bridge?: { url: string; token: string };
  odooUrl?: string;
  channels?: string;
  windowSeconds?: number;
  dispatchTimeoutMs?: number;
  enqueuedTimeoutSeconds?: number;
  startedGraceSeconds?: number;
  auth?: { user: string; password: string };
  env?: Record<string, string>;
}

/** A configuration as the runner would load it from its environment. */
export function testConfig(options: TestConfigOptions): Config {
  const reach = options.bridge
    ? { ODOO_URL: options.bridge.url, ODOO_BRIDGE_TOKEN: options.bridge.token, BRIDGE_POLL_MS: '100' }
    : { DATABASE_URL: options.databaseUrl, ...(options.odooUrl ? { ODOO_URL: options.odooUrl } : {}) };
  const config = loadConfig({
    ...reach,
    ODOO_QUEUE_JOB_CHANNELS: options.channels ?? 'root:4',
    ...(options.auth
      ? {
          ODOO_QUEUE_JOB_HTTP_AUTH_USER: options.auth.user,
          ODOO_QUEUE_JOB_HTTP_AUTH_PASSWORD: options.auth.password,
        }
      : {}),
    ...options.env,
  });
  // Tests use timeouts below the production minimums to stay fast.
  return {
    ...config,
    windowSeconds: options.windowSeconds ?? 0,
    dispatchTimeoutMs: options.dispatchTimeoutMs ?? config.dispatchTimeoutMs,
    enqueuedTimeoutSeconds: options.enqueuedTimeoutSeconds ?? config.enqueuedTimeoutSeconds,
    startedGraceSeconds: options.startedGraceSeconds ?? 1,
  };
}

export interface CapturedLog {
  log: Logger;
  lines: string[];
  entries(): Record<string, unknown>[];
}

export function captureLog(level: 'debug' | 'info' | 'warning' | 'error' = 'debug'): CapturedLog {
  const lines: string[] = [];
  return {
    log: createLogger({ level, write: (line) => lines.push(line) }),
    lines,
    entries: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}
