// The two Odoo routes the real-Odoo suite (test/support/e2e.ts) calls besides runjob, so that suite can
// also run against the stand-in: `/web/session/authenticate` (JSON-RPC login, session cookie) and
// queue_job's `/queue_job/create_test_job` (auth="user"), which delays `queue.job._test_job` as Odoo does:
// one job, or a chain for size > 1 (upstream builds a random chain/group graph), with `failure_rate`
// stored in the job's kwargs for the job itself to use.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import pg from 'pg';
import { createChain, createJob } from './jobs.ts';

export interface SessionAnswer {
  status: number;
  body: string;
  type: string;
  headers?: Record<string, string>;
}

const JSON_TYPE = 'application/json';

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

export function testSession(databases: ReadonlyMap<string, string>, users: Record<string, string>) {
  const sessions = new Map<string, string>(); // session id → database
  const pools = new Map<string, pg.Pool>();
  const poolFor = (db: string) => {
    let pool = pools.get(db);
    if (!pool) {
      pool = new pg.Pool({
        connectionString: databases.get(db),
        max: 2,
        application_name: 'odoo-standin-http',
      });
      pools.set(db, pool);
    }
    return pool;
  };

  const authenticate = async (req: IncomingMessage): Promise<SessionAnswer> => {
    const { params } = JSON.parse((await readBody(req)) || '{}') as {
      params?: { db?: string; login?: string; password?: string };
    };
    const db = params?.db ?? '';
    if (!databases.has(db) || !params?.login || users[params.login] !== params.password) {
      const error = {
        code: 200,
        message: 'Odoo Server Error',
        data: { name: 'odoo.exceptions.AccessDenied' },
      };
      return { status: 200, type: JSON_TYPE, body: JSON.stringify({ jsonrpc: '2.0', id: null, error }) };
    }
    const id = randomBytes(20).toString('hex');
    sessions.set(id, db);
    return {
      status: 200,
      type: JSON_TYPE,
      headers: { 'Set-Cookie': `session_id=${id}; HttpOnly; Path=/` },
      body: JSON.stringify({ jsonrpc: '2.0', id: null, result: { uid: 2, db, username: params.login } }),
    };
  };

  const createTestJob = async (req: IncomingMessage, url: URL): Promise<SessionAnswer> => {
    const db = sessions.get(cookie(req, 'session_id') ?? '');
    // auth="user" without a session: Odoo redirects to the login page.
    if (!db) return { status: 303, type: 'text/html', headers: { Location: '/web/login' }, body: '' };
    const query = url.searchParams;
    const failureRate = Number(query.get('failure_rate') ?? 0);
    if (!(failureRate >= 0 && failureRate <= 1)) {
      return { status: 400, type: 'text/html', body: 'failure_rate must be between 0 and 1' };
    }
    const options = {
      channel: query.get('channel') ?? undefined,
      priority: query.has('priority') ? Number(query.get('priority')) : undefined,
      maxRetries: query.has('max_retries') ? Number(query.get('max_retries')) : undefined,
      name: query.get('description') ?? 'Test job',
      modelName: 'queue.job',
      methodName: '_test_job',
      kwargs: { failure_rate: failureRate },
    };
    const size = Number(query.get('size') ?? 1);
    const pool = poolFor(db);
    if (size > 1) {
      const uuids = await createChain(pool, size, options);
      const { rows } = await pool.query<{ graph_uuid: string }>(
        'SELECT graph_uuid FROM queue_job WHERE uuid = $1',
        [uuids[0]],
      );
      return { status: 200, type: 'text/html', body: `graph uuid: ${rows[0]?.graph_uuid}` };
    }
    const job = await createJob(pool, options);
    return { status: 200, type: 'text/html', body: `job uuid: ${job.uuid}` };
  };

  return {
    handle(req: IncomingMessage, url: URL): Promise<SessionAnswer> {
      return url.pathname === '/web/session/authenticate' ? authenticate(req) : createTestJob(req, url);
    },
    async close() {
      await Promise.all([...pools.values()].map((pool) => pool.end().catch(() => {})));
    },
  };
}
