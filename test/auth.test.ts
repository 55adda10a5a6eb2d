// Who may call the functions (functions/auth.ts): the decision from the settings alone, never open by
// default. The HTTP behaviour is in functions.test.ts.
import { describe, expect, it } from 'vitest';
import { authorize, authPolicy, describePolicy } from '../functions/auth.ts';

describe('authPolicy', () => {
  it('refuses every request without a token or an explicit opt-out', () => {
    for (const env of [{}, { RUNNER_AUTH_TOKEN: '  ' }, { RUNNER_ALLOW_UNAUTHENTICATED: 'false' }]) {
      const policy = authPolicy(env);
      expect(policy).toMatchObject({ kind: 'refused', variable: 'RUNNER_AUTH_TOKEN' });
      expect(authorize(policy, 'Bearer anything')).toMatchObject({ allowed: false, status: 500 });
      expect(describePolicy(policy).level).toBe('error');
    }
  });

  it('serves anyone only with RUNNER_ALLOW_UNAUTHENTICATED=true, and warns', () => {
    const policy = authPolicy({ RUNNER_ALLOW_UNAUTHENTICATED: 'TRUE' });
    expect(policy).toEqual({ kind: 'open' });
    expect(authorize(policy, undefined)).toEqual({ allowed: true });
    expect(describePolicy(policy)).toMatchObject({ level: 'warning' });
    expect(describePolicy(policy).message).toMatch(/RUNNER_ALLOW_UNAUTHENTICATED=true/);
  });

  it('names RUNNER_ALLOW_UNAUTHENTICATED when its value is neither true nor false', () => {
    expect(authPolicy({ RUNNER_ALLOW_UNAUTHENTICATED: 'yes' })).toMatchObject({
      kind: 'refused',
      variable: 'RUNNER_ALLOW_UNAUTHENTICATED',
    });
  });

  it('a token wins over the opt-out, which is then reported as ignored', () => {
    const policy = authPolicy({ RUNNER_AUTH_TOKEN: 'tok-123456', RUNNER_ALLOW_UNAUTHENTICATED: 'true' });
    expect(policy).toMatchObject({ kind: 'token', ignoredOptOut: true });
    expect(authorize(policy, undefined)).toMatchObject({ allowed: false, status: 401 });
    expect(authorize(policy, 'Bearer tok-123456')).toEqual({ allowed: true });
    expect(authorize(policy, 'bearer  tok-123456 ')).toEqual({ allowed: true });
    expect(authorize(policy, 'Bearer tok-1234567')).toMatchObject({ allowed: false });
    expect(describePolicy(policy)).toMatchObject({ level: 'warning' });
    expect(describePolicy(policy).message).not.toContain('tok-123456');
  });
});
