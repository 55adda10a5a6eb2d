// One fresh Odoo-shaped database per test file, cloned from a template that holds the Odoo 17 schema.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const TEMPLATE_DATABASE = 'queue_job_template';

const SCHEMA_FILE = 'odoo17-schema.sql';
const TIMESTAMP_OID = 1114;
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

export interface TestDatabase {
  url: string;
  name: string;
  /** Timestamps without time zone come back as UTC instants (Odoo stores naive UTC). */
  pool: pg.Pool;
  /** Ends the pool and drops the database, whoever is still connected. */
  close(): Promise<void>;
}

export interface CreateDatabaseOptions {
  /** Drop a database of that name first (only for names you own, e.g. the demo's). */
  replace?: boolean;
  /** Pool size (default 10). */
  poolMax?: number;
}

/** `adminUrl` with its database replaced by `name` (credentials, host and parameters kept). */
export function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${encodeURIComponent(name)}`;
  return url.toString();
}

export function uniqueDatabaseName(prefix = 'qjr_test'): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

export async function createDatabase(
  adminUrl: string,
  name: string = uniqueDatabaseName(),
  options: CreateDatabaseOptions = {},
): Promise<TestDatabase> {
  assertIdentifier(name);
  await withAdmin(adminUrl, async (admin) => {
    const quoted = admin.escapeIdentifier(name);
    // DDL cannot take parameters; the name is checked against IDENTIFIER above and quoted.
    if (options.replace) await admin.query(`DROP DATABASE IF EXISTS ${quoted} WITH (FORCE)`);
    // A file-level copy of the template: milliseconds, and the schema is identical everywhere.
    await admin.query(`CREATE DATABASE ${quoted} TEMPLATE ${admin.escapeIdentifier(TEMPLATE_DATABASE)}`);
  });
  const url = databaseUrl(adminUrl, name);
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolMax ?? 10,
    application_name: 'qjr-test',
    types: { getTypeParser: utcTypeParser },
  });
  // An idle client dropped by DROP DATABASE ... FORCE must not crash the test process.
  pool.on('error', () => {});
  let closed = false;
  return {
    url,
    name,
    pool,
    close: async () => {
      if (closed) return;
      closed = true;
      await pool.end();
      await dropDatabase(adminUrl, name);
    },
  };
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  assertIdentifier(name);
  await withAdmin(adminUrl, async (admin) => {
    // FORCE: stand-in workers or a runner under test may still hold connections.
    await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(name)} WITH (FORCE)`);
  });
}

/** (Re)creates the template database with the Odoo 17 schema. Run once per test run. */
export async function createTemplate(adminUrl: string): Promise<void> {
  await dropDatabase(adminUrl, TEMPLATE_DATABASE);
  await withAdmin(adminUrl, async (admin) => {
    // As Odoo's own database creation does (db_template = template0): UTF-8 with C collation.
    await admin.query(
      `CREATE DATABASE ${admin.escapeIdentifier(TEMPLATE_DATABASE)} ENCODING 'unicode' LC_COLLATE 'C' TEMPLATE template0`,
    );
  });
  const client = new pg.Client({ connectionString: databaseUrl(adminUrl, TEMPLATE_DATABASE) });
  await client.connect();
  try {
    await loadSchema(client);
  } finally {
    // CREATE DATABASE ... TEMPLATE fails while anyone is connected to the template.
    await client.end();
  }
}

/** Loads the Odoo 17 queue_job schema and seed rows into the connected (empty) database. */
export async function loadSchema(client: pg.ClientBase): Promise<void> {
  // Many statements and a dollar-quoted function body: the simple query protocol runs them all,
  // in one implicit transaction, so a failure leaves nothing half-loaded.
  await client.query(readFileSync(schemaPath(), 'utf8'));
}

/** Points `web.base.url` (what the runner uses when ODOO_URL is unset) at `url`. */
export async function setWebBaseUrl(pool: pg.Pool | pg.ClientBase, url: string): Promise<void> {
  // Upsert of the one parameter Odoo keeps per database; write_date in naive UTC like Odoo.
  await pool.query(
    `INSERT INTO ir_config_parameter (key, value, create_uid, create_date, write_uid, write_date)
     VALUES ('web.base.url', $1, 1, now() AT TIME ZONE 'utc', 1, now() AT TIME ZONE 'utc')
     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, write_date = EXCLUDED.write_date`,
    [url],
  );
}

// Next to this module when run from source; from a tsc build (dist/test/support) the .sql file is not
// copied, so fall back to the source tree of the package this module belongs to.
function schemaPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const sibling = join(here, SCHEMA_FILE);
  if (existsSync(sibling)) return sibling;
  for (let dir = here; dirname(dir) !== dir; dir = dirname(dir)) {
    const candidate = join(dir, 'test', 'support', SCHEMA_FILE);
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return candidate;
  }
  throw new Error(`${SCHEMA_FILE} not found next to ${here} nor in the package's test/support`);
}

// Odoo's timestamps are naive UTC; pg's default parser would read them as local time.
function utcTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
  if (oid === TIMESTAMP_OID && format !== 'binary') {
    return (value: string) => new Date(`${value.replace(' ', 'T')}Z`);
  }
  // biome-ignore lint/suspicious/noExplicitAny: pg's overloads do not accept a union format.
  return pg.types.getTypeParser(oid, format as any);
}

function assertIdentifier(name: string): void {
  if (!IDENTIFIER.test(name)) throw new Error(`invalid database name ${JSON.stringify(name)}`);
}

async function withAdmin<T>(adminUrl: string, work: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl, application_name: 'qjr-test-harness' });
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}
