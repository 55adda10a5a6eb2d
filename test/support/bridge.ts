// The bridge transport under test: the companion addon's real Python core behind its minimal HTTP
// wrapper (odoo/queue_job_runner_bridge/tests/serve.py), and in front of it a small proxy that plays
// the one Odoo host a bridge target talks to: /queue_job_runner_bridge/* goes to the wrapper, every
// other path (runjob, health) to the Odoo stand-in, as on Odoo.sh where both are the same server.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BRIDGE_SERVE_SCRIPT, findPython } from './python.ts';

export interface Bridge {
  /** The Odoo host of the target: the proxy. */
  readonly url: string;
  readonly token: string;
  /** Where non-bridge requests go (the stand-in, or a test's own probe). */
  upstream: string;
  close(): Promise<void>;
}

/** Why the bridge cannot run here (no Python with psycopg2), or null. Fails instead in CI. */
export function bridgeUnavailable(): string | null {
  const python = findPython();
  if (python.ok) return null;
  if (process.env.CI || process.env.QJR_REQUIRE_PYTHON) return null;
  return python.reason;
}

function startWrapper(
  databaseUrl: string,
  tokenSha256: string,
  catalogue?: string,
): Promise<{ child: ChildProcess; url: string }> {
  const python = findPython();
  if (!python.ok) throw new Error(`the bridge tests need Python: ${python.reason}`);
  const args = [BRIDGE_SERVE_SCRIPT, '--dsn', databaseUrl, '--token-sha256', tokenSha256, '--port', '0'];
  if (catalogue) args.push('--catalogue', catalogue);
  const child = spawn(python.command, [...args, '--watch-stdin'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const port = /listening on (\d+)/.exec(out)?.[1];
      if (port) resolve({ child, url: `http://127.0.0.1:${port}` });
    });
    child.on('exit', (code) => reject(new Error(`serve.py exited ${code}: ${err.slice(-2000)}`)));
    child.on('error', reject);
  });
}

function startProxy(bridgeUrl: string, state: { upstream: string }): Promise<Server> {
  const server = createServer((req, res) => {
    const base = req.url?.startsWith('/queue_job_runner_bridge/') ? bridgeUrl : state.upstream;
    const target = new URL(req.url ?? '/', base);
    const forward = httpRequest(
      target,
      { method: req.method, headers: { ...req.headers, host: target.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    // The runner let go (dispatch timeout): so does the proxy, as a reverse proxy in front of Odoo does.
    res.on('close', () => {
      if (!res.writableFinished) forward.destroy();
    });
    req.pipe(forward);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Starts the wrapper on `databaseUrl` and the proxy in front of it and of `upstream`. */
export async function startBridge(
  databaseUrl: string,
  upstream: string,
  options: { catalogue?: string; token?: string } = {},
): Promise<Bridge> {
  const token = options.token ?? randomBytes(24).toString('base64url');
  const digest = createHash('sha256').update(token).digest('hex');
  const wrapper = await startWrapper(databaseUrl, digest, options.catalogue);
  const state = { upstream };
  const proxy = await startProxy(wrapper.url, state);
  const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  return {
    url,
    token,
    get upstream() {
      return state.upstream;
    },
    set upstream(value: string) {
      state.upstream = value;
    },
    async close() {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
      wrapper.child.stdin?.end();
      wrapper.child.kill('SIGTERM');
    },
  };
}
