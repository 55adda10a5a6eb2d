// The real-Odoo suite (test/support/e2e.ts) run against the stand-in, which implements the two routes it
// needs besides runjob: this keeps the suite working where no Odoo runs. It proves the suite, not Odoo.
import { afterAll, beforeAll, describe } from 'vitest';
import { type Bridge, bridgeUnavailable, startBridge } from './support/bridge.ts';
import { setWebBaseUrl } from './support/db.ts';
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

const unavailable = bridgeUnavailable();
if (unavailable) console.warn(`[e2e-standin bridge] skipped: ${unavailable}`);

describe.skipIf(unavailable !== null)(
  'the real-Odoo end-to-end suite, against the stand-in, through the bridge',
  () => {
    const fixture = useStandin();
    let bridge: Bridge;
    beforeAll(async () => {
      bridge = await startBridge(fixture.db.url, fixture.odoo.url);
      await setWebBaseUrl(fixture.db.pool, bridge.url);
    });
    afterAll(async () => {
      await bridge?.close();
    });
    odooEndToEnd(() => ({
      odooUrl: bridge.url,
      databaseUrl: fixture.db.url,
      db: fixture.db.name,
      login: 'admin',
      password: 'admin',
      bridgeToken: bridge.token,
    }));
  },
);
