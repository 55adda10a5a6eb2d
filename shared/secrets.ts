/**
 * Start-up registration of every secret value the runner was given (invariant 9), so that `redact`
 * removes them from anything logged or answered, even from a third-party error message.
 */
import { type Config, databaseName, SETTINGS } from './config.ts';
import { registerNames, registerSecrets } from './redact.ts';

type Env = Partial<Record<string, string | undefined>>;

/** A connection string and its password, both as written and decoded (either may be echoed). */
function urlSecrets(value: string): string[] {
  const found = [value];
  try {
    const url = new URL(value);
    if (url.password) {
      found.push(url.password);
      try {
        found.push(decodeURIComponent(url.password));
      } catch {
        // A malformed escape: the raw form above is what could be echoed.
      }
    }
  } catch {
    // Not a URL: the whole value is still registered.
  }
  return found;
}

/** Every secret value of a loaded configuration: database URLs and passwords, Odoo passwords, the token. */
export function configSecrets(config: Config): string[] {
  const values: string[] = [];
  for (const target of config.targets) {
    if (target.reach.via === 'database') values.push(...urlSecrets(target.reach.databaseUrl));
    else values.push(target.reach.token);
    if (target.httpAuth?.password) values.push(target.httpAuth.password);
  }
  if (config.runnerAuthToken) values.push(config.runnerAuthToken);
  return values;
}

/**
 * The secret variables as found in the environment, before (or without) a valid configuration: a
 * configuration error must not leak them either. QUEUE_JOB_TARGETS is searched for its URLs and passwords.
 */
export function environmentSecrets(env: Env): string[] {
  const values: string[] = [];
  for (const setting of SETTINGS) {
    const raw = env[setting.name]?.trim();
    if (!setting.secret || !raw) continue;
    values.push(...urlSecrets(raw));
    if (setting.name === 'QUEUE_JOB_TARGETS') values.push(...targetsSecrets(raw));
  }
  return values;
}

function targetsSecrets(text: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  const values: string[] = [];
  for (const entry of Array.isArray(parsed) ? parsed : []) {
    if (!entry || typeof entry !== 'object') continue;
    const { databaseUrl, httpAuthPassword, bridgeToken } = entry as Record<string, unknown>;
    if (typeof databaseUrl === 'string') values.push(...urlSecrets(databaseUrl));
    if (typeof bridgeToken === 'string') values.push(bridgeToken);
    if (typeof httpAuthPassword === 'string') values.push(httpAuthPassword);
  }
  return values;
}

/** The names a configuration gives (targets, databases, channels): public, never redacted. */
export function configNames(config: Config): (string | null)[] {
  const values: (string | null)[] = [];
  for (const target of config.targets) {
    values.push(target.name, target.db);
    if (target.reach.via === 'database') {
      try {
        values.push(databaseName(target.reach.databaseUrl));
      } catch {
        // Validated by loadConfig; nothing to add otherwise.
      }
    }
    for (const channel of target.channels) values.push(channel.name);
  }
  return values;
}

/**
 * Registers the environment's secrets and, when it loaded, the configuration's secrets and names. Call
 * once at start-up.
 */
export function registerStartupSecrets(env: Env, config?: Config): void {
  registerSecrets(environmentSecrets(env));
  if (config) {
    registerSecrets(configSecrets(config));
    registerNames(configNames(config));
  }
}
