/**
 * What every HTTP function shares: the configuration, loaded once per instance and lazily (a broken
 * one answers 500 naming the variable, never a value); who may call (functions/auth.ts: a bearer token,
 * or an explicit opt-out, else nothing is served); JSON answers, redacted; and the mapping of client
 * errors to 4xx, so a caller's mistake is never a 500. The body reaches us unparsed, at most
 * MAX_BODY_BYTES of it, and only from an authorized caller: functions/intake.ts.
 */
import type { HttpFunction, Request, Response } from '@google-cloud/functions-framework';
import { type Config, ConfigError, loadConfig } from '../shared/config.ts';
import { InputError, UnknownChannelError, UnknownTargetError } from '../shared/input.ts';
import { createLogger, type Logger } from '../shared/log.ts';
import { errorMessage, redact, redactValue } from '../shared/redact.ts';
import { registerStartupSecrets } from '../shared/secrets.ts';
import { settingWarnings } from '../shared/warnings.ts';
import { type AuthPolicy, authorize, authPolicy, describePolicy } from './auth.ts';

/** The largest request body a function accepts; a dispatch request is a few hundred bytes. */
export const MAX_BODY_BYTES = 64 * 1024;

let cached: Config | null = null;
let policy: AuthPolicy | null = null;
let write: ((line: string) => void) | undefined;

/** The instance's configuration, read from process.env on first use; throws ConfigError. */
export function instanceConfig(): Config {
  if (cached) return cached;
  // Registered first, so even a configuration error cannot echo a secret of the environment.
  registerStartupSecrets(process.env);
  const config = loadConfig(process.env);
  registerStartupSecrets(process.env, config);
  cached = config;
  const log = logger(config, 'config');
  for (const { setting, message } of settingWarnings(process.env)) {
    log.warning(message, { event: 'setting_warning', setting });
  }
  return config;
}

/** Tests: forget the loaded configuration (the next request reads process.env again) and where logs go. */
export function resetInstance(options: { write?: (line: string) => void } = {}): void {
  cached = null;
  policy = null;
  write = options.write;
}

/** The logger of one function (or of the intake), at the configured level once one is loaded. */
export function logger(config: Config | null, name: string): Logger {
  return createLogger({ level: config?.logLevel ?? 'info', write, fields: { function: name } });
}

/** A client error with its status; the body says what to fix. */
export class HttpError extends Error {
  readonly status: number;
  readonly body: Record<string, unknown>;
  constructor(status: number, message: string, extra: Record<string, unknown> = {}) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.body = { error: message, ...extra };
  }
}

export type Reply = (
  | { status: number; json: unknown }
  | { status: number; text: string; contentType: string }
) & { headers?: Record<string, string> };

export interface Call {
  req: Request;
  config: Config;
  log: Logger;
  /** Aborted when the caller goes away or the platform times the request out. */
  signal: AbortSignal;
}

/**
 * The instance's auth policy, read from process.env on first use and logged once (which choice is in
 * force is an operator's decision, so it is said where the operator looks).
 */
export function instancePolicy(): AuthPolicy {
  if (policy) return policy;
  policy = authPolicy(process.env);
  const { level, message } = describePolicy(policy);
  const log = logger(null, 'auth');
  log[level](message, { event: 'auth_policy', policy: policy.kind });
  return policy;
}

/** The refusal for a caller the policy does not let in (sent as is), or null to go on. */
export function refusal(
  req: { method?: string; headers: { authorization?: string } },
  log: Logger,
): Reply | null {
  const decision = authorize(instancePolicy(), req.headers.authorization);
  if (decision.allowed) return null;
  if (decision.status === 500) {
    log.error(decision.error, { event: 'config_error', variable: decision.variable });
    return { status: 500, json: { error: decision.error, variable: decision.variable } };
  }
  log.warning('unauthorized request', { event: 'unauthorized', method: req.method });
  return {
    status: 401,
    json: { error: decision.error },
    headers: { 'WWW-Authenticate': 'Bearer realm="queue-job-runner"' },
  };
}

function send(res: Response, reply: Reply): void {
  if (res.headersSent) return;
  res.status(reply.status);
  res.set('Cache-Control', 'no-store');
  if (reply.headers) res.set(reply.headers);
  if ('json' in reply) {
    res.type('application/json');
    res.send(JSON.stringify(redactValue(reply.json)));
  } else {
    res.type(reply.contentType);
    res.send(redact(reply.text));
  }
}

/**
 * The request body of a JSON endpoint, checked in the order a client fixes them: size (413), media type
 * and charset (415), presence and syntax (400). Parsed here from the raw bytes (functions/intake.ts keeps
 * the framework's parsers out), so every failure is a JSON answer. Its content is validated by the caller
 * (400 with zod's issues).
 */
export function jsonBody(req: Request): unknown {
  const raw = req.rawBody ?? Buffer.alloc(0);
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES || raw.length > MAX_BODY_BYTES) {
    throw new HttpError(413, `request body larger than ${MAX_BODY_BYTES} bytes`);
  }
  const type = req.headers['content-type'];
  if (type === undefined) {
    if (raw.length === 0) throw new HttpError(400, 'a JSON body is required');
    throw new HttpError(415, 'Content-Type must be application/json');
  }
  if (!req.is('application/json')) throw new HttpError(415, 'Content-Type must be application/json');
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(type)?.[1];
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
    throw new HttpError(415, 'the charset of a JSON body must be utf-8');
  }
  if (raw.length === 0) throw new HttpError(400, 'a JSON body is required');
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    // The parser's message quotes the input: say only what is wrong.
    throw new HttpError(400, 'the request body is not valid JSON');
  }
}

/** A body sent as JSON to a function that takes none must still be JSON: a caller's mistake is told. */
function checkOptionalBody(req: Request): void {
  if ((req.rawBody?.length ?? 0) > 0 && req.is('application/json')) jsonBody(req);
}

/** A single-valued query parameter, or undefined; repeated parameters are a client error. */
export function queryParameter(req: Request, name: string): string | undefined {
  const value = req.query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new HttpError(400, `query parameter ${name} must be given once`);
  return value;
}

function clientError(error: unknown): Reply | null {
  if (error instanceof HttpError) return { status: error.status, json: error.body };
  if (error instanceof InputError)
    return { status: 400, json: { error: error.message, issues: error.issues } };
  if (error instanceof UnknownChannelError) {
    return {
      status: 404,
      json: { error: error.message, channel: error.channel, channels: error.configured },
    };
  }
  if (error instanceof UnknownTargetError) {
    return { status: 404, json: { error: error.message, target: error.target, targets: error.known } };
  }
  return null;
}

/**
 * Wraps one function: auth first (nothing is revealed to an unauthenticated caller), then the method,
 * the configuration and the work. Whatever escapes is logged and answered without a secret.
 */
export function endpoint(
  name: string,
  methods: readonly string[],
  work: (call: Call) => Promise<Reply>,
): HttpFunction {
  return async (req: Request, res: Response) => {
    let config: Config | null = null;
    let configError: unknown = null;
    try {
      config = instanceConfig();
    } catch (error) {
      configError = error;
    }
    const log = logger(config, name);
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort(new Error('the caller went away'));
    });
    const signal = req.abortController
      ? AbortSignal.any([abort.signal, req.abortController.signal])
      : abort.signal;
    try {
      // The policy guards everything, a broken configuration included.
      const refused = refusal(req, log);
      if (refused) {
        send(res, refused);
        return;
      }
      if (!methods.includes(req.method)) {
        res.set('Allow', methods.join(', '));
        throw new HttpError(405, `method ${req.method} not allowed (use ${methods.join(' or ')})`);
      }
      checkOptionalBody(req);
      if (config === null) {
        // A ConfigError names the variable and the problem, never a value; anything else is redacted.
        const variable = configError instanceof ConfigError ? configError.variable : undefined;
        const message = `configuration error: ${errorMessage(configError)}`;
        log.error(message, { event: 'config_error', variable });
        send(res, { status: 500, json: { error: message, variable } });
        return;
      }
      send(res, await work({ req, config, log, signal }));
    } catch (error) {
      const reply = clientError(error);
      if (reply) {
        log.info(`client error: ${errorMessage(error)}`, { event: 'client_error', status: reply.status });
        send(res, reply);
        return;
      }
      const message = errorMessage(error);
      log.error(`${name} failed: ${message}`, { event: 'internal_error' });
      send(res, { status: 500, json: { error: `internal error: ${message}` } });
    }
  };
}
