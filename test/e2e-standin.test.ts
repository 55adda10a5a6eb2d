// The real-Odoo suite (test/support/e2e.ts) run against the stand-in, which implements the two routes it
// needs besides runjob: this keeps the suite working where no Odoo runs. It proves the suite, not Odoo.
import { describe } from 'vitest';
import { odooEndToEnd } from './support/e2e.ts';
import { useStandin } from './support/fixture.ts';

describe('the real-Odoo end-to-end suite, against the stand-in', () => {
  const fixture = useStandin();
  odooEndToEnd(() => ({
    odooUrl: fixture.odoo.url,
    databaseUrl: fixture.db.url,
    db: fixture.db.name,
    login: 'admin',
    password: 'admin',
  }));
});
