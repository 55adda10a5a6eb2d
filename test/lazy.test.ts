// shared/lazy.ts: undici's Pool and Agent reached by their file paths are the package's own classes and
// can send a request with a body, while the package index (fetch, WebSocket, mocks, caches) stays unloaded.
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { undici } from '../shared/lazy.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
let server: Server;
let origin: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`${req.method} ${req.url}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('undici() from lazy.ts', () => {
  it('gives the package’s own Pool and Agent', () => {
    const full = createRequire(import.meta.url)('undici') as typeof import('undici');
    expect(undici().Pool).toBe(full.Pool);
    expect(undici().Agent).toBe(full.Agent);
  });

  it('sends a request through a Pool and an Agent', async () => {
    const pool = new (undici().Pool)(origin, { connections: 1 });
    const agent = new (undici().Agent)();
    try {
      const viaPool = await pool.request({ path: '/queue_job/runjob?db=x', method: 'GET' });
      expect(viaPool.statusCode).toBe(200);
      expect(await viaPool.body.text()).toBe('GET /queue_job/runjob?db=x');
      const viaAgent = await agent.request({ origin, path: '/web/health', method: 'GET' });
      await viaAgent.body.dump();
      expect(viaAgent.statusCode).toBe(200);
    } finally {
      await pool.close();
      await agent.close();
    }
  });

  it('leaves the package index unloaded', async () => {
    // A fresh process: this one may have loaded undici's index for the first test.
    const script = `
      import { createRequire } from 'node:module';
      import { undici } from './shared/lazy.ts';
      const pool = new (undici().Pool)(process.argv[1]);
      const response = await pool.request({ path: '/', method: 'GET' });
      await response.body.dump();
      await pool.close();
      const require = createRequire(import.meta.url);
      const index = require.resolve('undici');
      console.log(JSON.stringify({ status: response.statusCode, index: index in require.cache }));
    `;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '--no-warnings', '-e', script, origin],
      { cwd: ROOT },
    );
    expect(JSON.parse(stdout)).toEqual({ status: 200, index: false });
  });
});
