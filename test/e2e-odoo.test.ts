// End to end against a REAL Odoo with queue_job installed (see README, "Testing against a real Odoo").
// Skipped, saying why, unless ODOO_E2E_URL, ODOO_E2E_DATABASE_URL, ODOO_E2E_LOGIN and ODOO_E2E_PASSWORD
// are set. The suite itself is test/support/e2e.ts.
import { describe } from 'vitest';
import { databaseName } from '../shared/config.ts';
import { odooEndToEnd } from './support/e2e.ts';

const required = ['ODOO_E2E_URL', 'ODOO_E2E_DATABASE_URL', 'ODOO_E2E_LOGIN', 'ODOO_E2E_PASSWORD'] as const;
const missing = required.filter((name) => !process.env[name]);
const reason = `needs a real Odoo: set ${missing.join(', ')} (see README, "Testing against a real Odoo")`;
if (missing.length > 0) console.log(`[e2e-odoo] skipped: ${reason}`);

const odoo = () => {
  const databaseUrl = process.env.ODOO_E2E_DATABASE_URL ?? '';
  return {
    odooUrl: process.env.ODOO_E2E_URL ?? '',
    databaseUrl,
    db: process.env.ODOO_E2E_DB ?? databaseName(databaseUrl),
    login: process.env.ODOO_E2E_LOGIN ?? '',
    password: process.env.ODOO_E2E_PASSWORD ?? '',
  };
};

describe.skipIf(missing.length > 0)(
  `real Odoo end to end${missing.length > 0 ? ` (skipped: ${reason})` : ''}`,
  () => odooEndToEnd(odoo),
);

// The bridge variant: the addon installed in that database and ODOO_E2E_BRIDGE_TOKEN its token.
const bridgeToken = process.env.ODOO_E2E_BRIDGE_TOKEN;
const bridgeReason =
  missing.length > 0 ? reason : 'set ODOO_E2E_BRIDGE_TOKEN (see README, "Testing against a real Odoo")';
if (missing.length > 0 || !bridgeToken) console.log(`[e2e-odoo bridge] skipped: ${bridgeReason}`);

describe.skipIf(missing.length > 0 || !bridgeToken)(
  `real Odoo end to end, through the companion addon${missing.length > 0 || !bridgeToken ? ` (skipped: ${bridgeReason})` : ''}`,
  () => odooEndToEnd(() => ({ ...odoo(), bridgeToken })),
);
