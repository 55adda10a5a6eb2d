/**
 * The request intake, before the functions-framework's Express app sees a request. The framework
 * installs body parsers ahead of every function (limit 1 GB, JSON, text, urlencoded, gzip and charset
 * decoding), and its Express error handler answers their failures as HTML with a stack trace unless
 * NODE_ENV=production; none of that can be configured (functions-framework-nodejs#686). So the server
 * it creates is wrapped when this module loads, which is before the framework builds the server,
 * whether it was started by `functions-framework --target=...` (Cloud Run) or `getTestServer`:
 *
 * 1. the caller is authorized from the headers alone (functions/auth.ts), before a byte of body is read;
 * 2. a body declared or found larger than MAX_BODY_BYTES, or compressed, is refused without reading on;
 * 3. the body (at most MAX_BODY_BYTES) is read into `req.rawBody`; the framework's parsers then skip the
 *    finished request, and `jsonBody` (functions/http.ts) parses it, answering JSON on every failure;
 * 4. a JSON error handler ends the Express app, so nothing else can answer HTML or a stack.
 */
import http, { type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { redact } from '../shared/redact.ts';
import { logger, MAX_BODY_BYTES, type Reply, refusal } from './http.ts';

/** What reading a body up to a limit gave: the bytes, or the reason to stop reading. */
export type BodyRead = { ok: true; body: Buffer } | { ok: false; status: 400 | 413; error: string };

/**
 * Reads at most `limit` bytes of a request body; stops reading (and says 413) at the first chunk beyond
 * it, so a hostile caller costs at most one chunk over the limit, whatever it declared.
 */
export function readBody(stream: NodeJS.ReadableStream, limit: number): Promise<BodyRead> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let settled = false;
    const finish = (result: BodyRead) => {
      if (settled) return;
      settled = true;
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
      stream.removeListener('error', onError);
      stream.removeListener('aborted', onError);
      resolve(result);
    };
    const onData = (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      length += bytes.length;
      if (length > limit) {
        stream.pause();
        finish({ ok: false, status: 413, error: tooLarge });
        return;
      }
      chunks.push(bytes);
    };
    const onEnd = () => finish({ ok: true, body: Buffer.concat(chunks, length) });
    const onError = () => finish({ ok: false, status: 400, error: 'the request body was cut short' });
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('aborted', onError);
  });
}

const tooLarge = `request body larger than ${MAX_BODY_BYTES} bytes`;

/** The refusal a request gets from its headers alone, before its body is read; null to read on. */
export function headerRefusal(headers: IncomingMessage['headers']): { status: number; error: string } | null {
  const declared = headers['content-length'];
  if (declared !== undefined && (!/^\d+$/.test(declared) || Number(declared) > MAX_BODY_BYTES)) {
    return /^\d+$/.test(declared)
      ? { status: 413, error: tooLarge }
      : { status: 400, error: 'Content-Length must be a number of bytes' };
  }
  const encoding = headers['content-encoding']?.trim().toLowerCase();
  if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
    return { status: 415, error: 'Content-Encoding must be identity (send the body uncompressed)' };
  }
  return null;
}

const log = {
  info: (message: string, fields: Record<string, unknown>) => logger(null, 'intake').info(message, fields),
  warning: (message: string, fields: Record<string, unknown>) =>
    logger(null, 'intake').warning(message, fields),
};

function answer(req: IncomingMessage, res: ServerResponse, reply: Reply, unread: boolean): void {
  if (res.headersSent) return;
  const body = 'json' in reply ? JSON.stringify(reply.json) : reply.text;
  res.statusCode = reply.status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
  if (unread) {
    // The rest of the body is not wanted: close the connection instead of reading it to the end.
    res.setHeader('Connection', 'close');
    res.on('finish', () => {
      if (!req.complete) req.socket.destroy();
    });
  }
  res.end(redact(body));
}

/** Wraps the framework's request listener (its Express app) with the intake. */
export function guard(app: RequestListener): RequestListener {
  return (req, res) => {
    const refused = refusal(req, logger(null, 'intake'));
    if (refused) {
      answer(req, res, refused, !req.complete);
      return;
    }
    const early = headerRefusal(req.headers);
    if (early) {
      log.info(`client error: ${early.error}`, { event: 'client_error', status: early.status });
      answer(req, res, { status: early.status, json: { error: early.error } }, !req.complete);
      return;
    }
    void readBody(req, MAX_BODY_BYTES).then((read) => {
      if (!read.ok) {
        log.info(`client error: ${read.error}`, { event: 'client_error', status: read.status });
        answer(req, res, { status: read.status, json: { error: read.error } }, true);
        return;
      }
      (req as IncomingMessage & { rawBody?: Buffer }).rawBody = read.body;
      app(req, res);
    });
  };
}

type ExpressLike = RequestListener & {
  use: (handler: (...args: never[]) => void) => unknown;
  set: (name: string, value: unknown) => unknown;
};

function isExpressApp(listener: unknown): listener is ExpressLike {
  if (typeof listener !== 'function') return false;
  const app = listener as { use?: unknown; set?: unknown };
  return typeof app.use === 'function' && typeof app.set === 'function';
}

/** The last handler of the app: whatever error reaches it is answered as JSON, without a stack. */
function jsonErrors(app: ExpressLike): void {
  // Four parameters: that is how Express tells an error handler from a middleware.
  app.use(
    (
      error: { status?: unknown; statusCode?: unknown },
      req: IncomingMessage,
      res: ServerResponse,
      _next: unknown,
    ) => {
      const raw = Number(error?.status ?? error?.statusCode);
      const status = Number.isInteger(raw) && raw >= 400 && raw < 600 ? raw : 500;
      const message = status < 500 ? (http.STATUS_CODES[status] ?? 'bad request') : 'internal error';
      log.warning(`request failed before the function: ${message}`, { event: 'intake_error', status });
      answer(req, res, { status, json: { error: message.toLowerCase() } }, !req.complete);
    },
  );
}

let installed = false;

/**
 * Wraps every Express app that is served by `http.createServer(app)` from now on, which is how the
 * functions-framework serves a function (server.js getServer). Other servers are left alone.
 */
export function installIntake(): void {
  if (installed) return;
  installed = true;
  const original = http.createServer;
  const patched = (...args: unknown[]) => {
    if (args.length === 1 && isExpressApp(args[0])) {
      const app = args[0];
      jsonErrors(app);
      return original.call(http, {}, guard(app));
    }
    return (original as (...a: unknown[]) => http.Server).apply(http, args);
  };
  http.createServer = patched as typeof http.createServer;
}
