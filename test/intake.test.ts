// Hostile requests against the functions-framework server started as the README says (the package's
// `main`, the bundle dist/bundle/functions.mjs, as Cloud Run loads it: `functions-framework --target=...`,
// no NODE_ENV): every answer is
// JSON without a stack, and nothing beyond the body limit is read, before or after the token check.
import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBody } from '../functions/intake.ts';
import { ensureBuilt } from './support/cli.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const TOKEN = 'intake-token-0123456789';
const LIMIT = 64 * 1024;
const servers: { child: ChildProcess; base: string; output: string[] }[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** `functions-framework --target=<target>`, as in the README, until it accepts connections. */
async function serve(target: string): Promise<string> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    PORT: String(port),
    RUNNER_AUTH_TOKEN: TOKEN,
    // Never reached: every request below is refused before a database is needed.
    DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
  };
  const bin = join(ROOT, 'node_modules', '@google-cloud', 'functions-framework', 'build', 'src', 'main.js');
  const child = spawn(process.execPath, [bin, `--target=${target}`, '--source=.'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout?.on('data', (chunk) => output.push(String(chunk)));
  child.stderr?.on('data', (chunk) => output.push(String(chunk)));
  const base = `http://127.0.0.1:${port}/`;
  servers.push({ child, base, output });
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) throw new Error(`functions-framework exited: ${output.join('')}`);
    try {
      await fetch(base, { method: 'OPTIONS' });
      return base;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`functions-framework did not start: ${output.join('')}`);
}

let dispatch: string;
let tick: string;

beforeAll(async () => {
  await ensureBuilt();
  [dispatch, tick] = await Promise.all([serve('dispatch'), serve('tick')]);
}, 60_000);

afterAll(() => {
  for (const { child } of servers) child.kill();
});

const authorized = { authorization: `Bearer ${TOKEN}` };

function expectPlainJson(answer: { status: number; type: string | null; text: string }, label: string) {
  expect(answer.type, label).toMatch(/^application\/json/);
  expect(() => JSON.parse(answer.text), label).not.toThrow();
  expect(answer.text, label).not.toMatch(/<html|<pre|\s+at\s|node_modules|\/work\//i);
}

async function post(url: string, headers: Record<string, string>, body: BodyInit) {
  const response = await fetch(url, { method: 'POST', headers, body });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

/**
 * Sends only the headers of a request that declares `declared` bytes, and says what came back before any
 * body byte was sent: a server that reads the body first never answers, which the test reports.
 */
function answerBeforeBody(url: string, headers: Record<string, string>, declared: number) {
  return new Promise<{ status: number; type: string | null; text: string; sentBody: number }>(
    (resolve, reject) => {
      const req = request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(declared), ...headers },
      });
      const stuck = setTimeout(() => {
        req.destroy();
        reject(new Error('no answer while the body was unsent: the server waits to read it'));
      }, 15_000);
      req.on('response', (res) => {
        let text = '';
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () => {
          clearTimeout(stuck);
          req.destroy();
          resolve({
            status: res.statusCode ?? 0,
            type: res.headers['content-type'] ?? null,
            text,
            sentBody: 0,
          });
        });
      });
      req.on('error', (error) => {
        clearTimeout(stuck);
        reject(error);
      });
      req.flushHeaders();
    },
  );
}

describe('bad bodies get JSON, never HTML or a stack', () => {
  it('malformed JSON, a foreign charset, gzip (good or bad), an unknown encoding', async () => {
    const cases = [
      {
        label: 'malformed JSON',
        status: 400,
        headers: { 'content-type': 'application/json' },
        body: '{"a":',
      },
      {
        label: 'bad charset',
        status: 415,
        headers: { 'content-type': 'application/json; charset=klingon' },
        body: '{}',
      },
      {
        label: 'bad gzip',
        status: 415,
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        body: 'not gzip',
      },
      {
        label: 'good gzip',
        status: 415,
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        body: gzipSync('{"channel":"root"}'),
      },
      {
        label: 'unknown encoding',
        status: 415,
        headers: { 'content-type': 'application/json', 'content-encoding': 'br2' },
        body: '{}',
      },
    ];
    for (const url of [dispatch, tick]) {
      for (const { label, status, headers, body } of cases) {
        for (const auth of [authorized, {}]) {
          const answer = await post(url, { ...(headers as Record<string, string>), ...auth }, body);
          const name = `${label} to ${url === tick ? 'tick' : 'dispatch'}${'authorization' in auth ? '' : ', no token'}`;
          expect(answer.status, name).toBe('authorization' in auth ? status : 401);
          expectPlainJson(answer, name);
        }
      }
    }
  });

  it('a path the router cannot decode', async () => {
    const response = await fetch(`${dispatch}%zz`, { method: 'POST', headers: authorized });
    const answer = {
      status: response.status,
      type: response.headers.get('content-type'),
      text: await response.text(),
    };
    expect(answer.status).toBe(400);
    expectPlainJson(answer, '/%zz');
  });
});

describe('nothing beyond the body limit is read', () => {
  it('an unauthenticated request declaring 300 MB gets 401 before its body is sent', async () => {
    const answer = await answerBeforeBody(dispatch, {}, 300 * 1024 * 1024);
    expect(answer.status).toBe(401);
    expectPlainJson(answer, '401');
  });

  it('an authorized request declaring 300 MB gets 413 before its body is sent', async () => {
    const answer = await answerBeforeBody(dispatch, authorized, 300 * 1024 * 1024);
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.text)).toEqual({ error: `request body larger than ${LIMIT} bytes` });
  });

  it('a chunked body that never ends is cut at the limit and answered 413', async () => {
    const cap = 32 * 1024 * 1024;
    const result = await new Promise<{ status: number; text: string; written: number }>((resolve, reject) => {
      let written = 0;
      let answered = false;
      const req = request(dispatch, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...authorized },
      });
      req.on('response', (res) => {
        answered = true;
        let text = '';
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () => {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, text, written });
        });
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        // The server may cut the connection right after its answer, before this side has read it.
        if (answered) return;
        if (error.code === 'ECONNRESET' || error.code === 'EPIPE') resolve({ status: 0, text: '', written });
        else reject(error);
      });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = () => {
        while (!answered && written < cap) {
          written += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        if (!answered) req.end();
      };
      pump();
    });
    // 413, or the connection cut right after it; either way the server stopped reading at the limit,
    // so the client could not push its 32 MB.
    expect([0, 413]).toContain(result.status);
    expect(result.written).toBeLessThan(cap);
  });
});

describe('readBody', () => {
  async function* chunks(sizes: number[], log: number[]) {
    for (const size of sizes) {
      log.push(size);
      yield Buffer.alloc(size, 0x61);
    }
  }

  it('gives the whole body up to the limit', async () => {
    const { Readable } = await import('node:stream');
    const read = await readBody(Readable.from(chunks([10, 20], [])), 30);
    expect(read).toEqual({ ok: true, body: Buffer.alloc(30, 0x61) });
  });

  it('stops at the first chunk beyond the limit and reads no further', async () => {
    const { Readable } = await import('node:stream');
    const pulled: number[] = [];
    const read = await readBody(Readable.from(chunks([10, 20, 5, 1000, 1000], pulled)), 30);
    expect(read).toMatchObject({ ok: false, status: 413 });
    expect(pulled.length).toBeLessThanOrEqual(4);
  });
});
