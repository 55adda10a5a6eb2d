// The usual setup of a runner test file: its own database, an Odoo stand-in serving it (as web.base.url),
// and a clean slate before each test. Call at the top level of a test file.
import { afterAll, beforeAll, beforeEach, inject } from 'vitest';
import { createDatabase, setWebBaseUrl, type TestDatabase } from './db.ts';
import { DEFAULT_KNOBS, type OdooStandin, startOdoo } from './odoo.ts';

export interface Fixture {
  readonly db: TestDatabase;
  readonly odoo: OdooStandin;
}

export function useStandin(options: { poolMax?: number; workers?: number } = {}): Fixture {
  let db: TestDatabase | undefined;
  let odoo: OdooStandin | undefined;
  beforeAll(async () => {
    db = await createDatabase(inject('adminDatabaseUrl'), undefined, { poolMax: options.poolMax ?? 10 });
    odoo = await startOdoo({ databases: { [db.name]: db.url }, workers: options.workers ?? 32 });
    await setWebBaseUrl(db.pool, odoo.url);
  });
  afterAll(async () => {
    await odoo?.close();
    await db?.close();
  });
  beforeEach(async () => {
    await db!.pool.query('DELETE FROM queue_job');
    odoo!.configure(DEFAULT_KNOBS);
    odoo!.resetPeaks();
  });
  return {
    get db() {
      return db!;
    },
    get odoo() {
      return odoo!;
    },
  };
}
