// Redaction (shared/redact.ts): secrets out of free text, configured names left whole, and one pass
// over a text whatever the number of secrets. End to end with short passwords: redaction-names.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../shared/config.ts';
import { redact, redactValue, registerNames, registerSecrets, resetRedaction } from '../shared/redact.ts';
import { configNames } from '../shared/secrets.ts';

afterEach(() => resetRedaction());

describe('redact', () => {
  it('replaces every registered secret, encoded forms too, wherever it is in free text', () => {
    registerSecrets(['S3cret-pass', 'p@ss w0rd!']);
    expect(redact('login failed: S3cret-pass')).toBe('login failed: [redacted]');
    expect(redact('xS3cret-passx')).toBe('x[redacted]x');
    expect(redact('db?pw=p%40ss%20w0rd!')).toBe('db?pw=[redacted]');
    expect(redact('S3cret-passS3cret-pass and p@ss w0rd!')).toBe('[redacted] and [redacted]');
  });

  it('ignores secrets shorter than 4 characters (they would eat ordinary words)', () => {
    registerSecrets(['abc']);
    expect(redact('abc abcd')).toBe('abc abcd');
  });

  it('never redacts a configured name, even when a password is that name or part of it', () => {
    registerSecrets(['root', 'odoo', 'prod']);
    registerNames(['root', 'root.odoo', 'odoo', 'odoo_prod', 'default']);
    expect(redact('root')).toBe('root');
    expect(redact('channel root.odoo is full')).toBe('channel root.odoo is full');
    expect(redact('queue_job_jobs{target="default",channel="root",db="odoo_prod"} 3')).toBe(
      'queue_job_jobs{target="default",channel="root",db="odoo_prod"} 3',
    );
    expect(redactValue({ channel: 'root', db: 'odoo', channels: ['root', 'root.odoo'] })).toEqual({
      channel: 'root',
      db: 'odoo',
      channels: ['root', 'root.odoo'],
    });
    // Outside a name, the secret is still a secret.
    expect(redact('rootkit odoo17 prodding')).toBe('[redacted]kit [redacted]17 [redacted]ding');
  });

  it('always redacts credentials in URLs, parameters and Authorization values, names or not', () => {
    registerSecrets(['root', 'postgres://odoo:root@db:5432/odoo']);
    registerNames(['root', 'odoo']);
    expect(redact('cannot reach postgres://odoo:root@db:5432/odoo')).toBe('cannot reach [redacted]');
    expect(redact('postgres://odoo:root@other/odoo')).toBe('postgres://[redacted]@other/odoo');
    expect(redact('host=db password=root dbname=odoo')).toBe('host=db password=[redacted] dbname=odoo');
    expect(redact('Authorization: Basic b2RvbzpyjjAwdA==')).toBe('Authorization: Basic [redacted]');
  });

  it('takes the names of a configuration: targets, databases, every channel and its parts', () => {
    const config = loadConfig({
      QUEUE_JOB_TARGETS: JSON.stringify([
        {
          name: 'shop.example',
          databaseUrl: 'postgres://u:p@h/odoo_shop',
          db: 'shopdb',
          channels: 'root:2,root.mail.out:1',
        },
      ]),
    });
    registerNames(configNames(config));
    registerSecrets(['shop', 'mail', 'odoo_shop', 'shopdb']);
    expect(redact('shop.example odoo_shop shopdb root.mail.out')).toBe(
      'shop.example odoo_shop shopdb root.mail.out',
    );
  });

  it('with 10,000 secrets sharing a prefix, still finds each one', () => {
    const urls = Array.from(
      { length: 10_000 },
      (_, i) => `postgres://odoo:pw-${i}-x@db-${i}.internal/odoo_${i}`,
    );
    registerSecrets(urls);
    registerSecrets(urls.map((_, i) => `pw-${i}-x`));
    expect(redact(`a ${urls[1234]} b`)).toBe('a [redacted] b');
    expect(redact('wrong password pw-9999-x, then pw-17-x')).toBe(
      'wrong password [redacted], then [redacted]',
    );
    expect(redact('pw-10000-x is not one')).toBe('pw-10000-x is not one');
  });
});
