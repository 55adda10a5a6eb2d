// The bridge addon's catalogue is generated from shared/sql.ts; this fails when they drift apart.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CATALOGUE_PATH, catalogueDigest, catalogueDocument, catalogueText } from '../shared/catalogue.ts';
import * as sql from '../shared/sql.ts';
import { VERSION } from '../shared/version.ts';

describe('bridge catalogue', () => {
  it('is committed exactly as `npm run catalogue` writes it', () => {
    const committed = readFileSync(CATALOGUE_PATH, 'utf8');
    // On failure: run `npm run catalogue` and commit odoo/queue_job_runner_bridge/catalogue.json.
    expect(committed).toBe(catalogueText());
  });

  it('names every statement once, holds no DDL and no LISTEN, and digests names and texts', () => {
    const statements = sql.catalogue();
    expect(new Set(statements.map((s) => s.name)).size).toBe(statements.length);
    for (const s of statements) {
      expect(s.name).toMatch(/^qjr_[a-z_]+$/);
      expect(s.text).not.toMatch(/\b(CREATE|DROP|ALTER|LISTEN|TRUNCATE|GRANT)\b/i);
    }
    const doc = catalogueDocument();
    expect(doc.sha256).toBe(catalogueDigest(statements));
    const changed = statements.map((s, i) => (i === 0 ? { ...s, text: `${s.text} ` } : s));
    expect(catalogueDigest(changed)).not.toBe(doc.sha256);
  });

  it('carries the package version', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(VERSION).toBe(pkg.version);
    expect(catalogueDocument().version).toBe(pkg.version);
  });
});
