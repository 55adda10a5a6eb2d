// Start-up warnings (shared/warnings.ts): settings that load but read differently, each named.
import { describe, expect, it } from 'vitest';
import { settingWarnings } from '../shared/warnings.ts';

const URL = 'postgres://odoo:pw@db/odoo';

describe('settingWarnings', () => {
  it('says nothing about ordinary settings', () => {
    expect(settingWarnings({ DATABASE_URL: URL, ODOO_QUEUE_JOB_CHANNELS: 'root:4,root.a:2,b:1' })).toEqual(
      [],
    );
    expect(settingWarnings({ DATABASE_URL: URL, ODOO_QUEUE_JOB_CHANNELS: 'root:0' })).toEqual([]);
    expect(settingWarnings({ QUEUE_JOB_TARGETS: `[{"name":"a","databaseUrl":"${URL}"}]` })).toEqual([]);
  });

  it('root:0 after other entries: root unlimited, as upstream, not the runner disabled', () => {
    const warnings = settingWarnings({ DATABASE_URL: URL, ODOO_QUEUE_JOB_CHANNELS: 'root.a:2,root:0' });
    expect(warnings).toEqual([
      {
        setting: 'ODOO_QUEUE_JOB_CHANNELS',
        message: expect.stringMatching(/root:0 after other entries makes root unlimited/),
      },
    ]);
  });

  it('a channel given twice: the last entry wins', () => {
    expect(settingWarnings({ DATABASE_URL: URL, ODOO_QUEUE_JOB_CHANNELS: 'root:1,root:2' })).toEqual([
      {
        setting: 'ODOO_QUEUE_JOB_CHANNELS',
        message: 'ODOO_QUEUE_JOB_CHANNELS: channel root is given more than once; the last entry wins',
      },
    ]);
    expect(
      settingWarnings({ DATABASE_URL: URL, ODOO_QUEUE_JOB_CHANNELS: 'a:1, root.a:3' })[0]?.message,
    ).toMatch(/channel root.a is given more than once/);
  });

  it('QUEUE_JOB_TARGETS beside the single-target variables, which it replaces; and its channels', () => {
    const warnings = settingWarnings({
      QUEUE_JOB_TARGETS: `[{"name":"shop","databaseUrl":"${URL}","channels":"root:1,root:2"}]`,
      DATABASE_URL: URL,
      ODOO_DB: 'odoo',
    });
    expect(warnings.map((w) => w.setting)).toEqual([
      'DATABASE_URL',
      'ODOO_DB',
      'QUEUE_JOB_TARGETS[shop].channels',
    ]);
    expect(warnings[0]!.message).toBe(
      'DATABASE_URL is ignored: QUEUE_JOB_TARGETS is set, and each of its targets carries its own',
    );
    expect(JSON.stringify(warnings)).not.toContain('pw');
  });
});
