// Dispatch outcome classification (pure): every row of the design's outcome table.
import { describe, expect, it } from 'vitest';
import {
  classifyError,
  classifyStatus,
  delivered,
  explain,
  mustRevert,
  notSelected,
  stopsTarget,
} from '../shared/outcome.ts';

const settings = {
  auth: 'ODOO_QUEUE_JOB_HTTP_AUTH_USER',
  url: 'ODOO_URL',
  db: 'ODOO_DB',
  token: 'ODOO_BRIDGE_TOKEN',
};
const coded = (code: string) => Object.assign(new Error(`boom ${code}`), { code });

describe('classifyStatus', () => {
  it.each([
    [200, 'accepted', false, false],
    [500, 'failed', false, false],
    [502, 'unavailable', true, true],
    [503, 'unavailable', true, true],
    [504, 'unavailable', true, true],
    [401, 'misconfigured', true, true],
    [403, 'misconfigured', true, true],
    [404, 'misconfigured', true, true],
    [302, 'unexpected', true, true],
    [400, 'unexpected', true, true],
  ] as const)('%i → %s (revert %s, stop %s)', (status, kind, revert, stop) => {
    const outcome = classifyStatus(status, settings);
    expect(outcome.kind).toBe(kind);
    expect(mustRevert(outcome)).toBe(revert);
    expect(stopsTarget(outcome)).toBe(stop);
    expect(delivered(outcome)).toBe(!revert);
  });

  it('names the setting to fix', () => {
    expect(explain(classifyStatus(401, settings))).toContain('ODOO_QUEUE_JOB_HTTP_AUTH_USER');
    expect(explain(classifyStatus(404, settings))).toContain('ODOO_URL');
  });

  it('a 500 whose revert moved the row is a database Odoo did not select: revert, stop, name ODOO_DB', () => {
    const outcome = notSelected(500, 'prod', settings);
    expect(outcome.kind).toBe('not_selected');
    expect(delivered(outcome)).toBe(false);
    expect(mustRevert(outcome)).toBe(true);
    expect(stopsTarget(outcome)).toBe(true);
    expect(explain(outcome)).toMatch(/did not select database 'prod'.*ODOO_DB/);
  });
});

describe('classifyError', () => {
  it('a head timeout after sending means Odoo is running the job: nothing to do', () => {
    const outcome = classifyError(coded('UND_ERR_HEADERS_TIMEOUT'));
    expect(outcome.kind).toBe('running');
    expect(mustRevert(outcome)).toBe(false);
  });

  it.each([
    'ECONNREFUSED',
    'ENOTFOUND',
    'EAI_AGAIN',
    'UND_ERR_CONNECT_TIMEOUT',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
  ])('%s: Odoo never got it → revert and stop sending to it', (code) => {
    const outcome = classifyError(coded(code));
    expect(outcome.kind).toBe('unreachable');
    expect(mustRevert(outcome)).toBe(true);
    expect(stopsTarget(outcome)).toBe(true);
  });

  it.each(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE'])(
    '%s: dropped connection → guarded revert, target kept',
    (code) => {
      const outcome = classifyError(coded(code));
      expect(outcome.kind).toBe('lost');
      expect(mustRevert(outcome)).toBe(true);
      expect(stopsTarget(outcome)).toBe(false);
    },
  );

  it('an error without a code is unreachable', () => {
    expect(classifyError(new Error('weird')).kind).toBe('unreachable');
  });
});
