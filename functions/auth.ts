/**
 * Who may call the functions. The runner cannot tell whether something in front of it authenticates
 * callers: Cloud Run sets K_SERVICE whether the service is private or `--allow-unauthenticated`, and
 * anything can set an environment variable. So the safe default is decided by settings alone: with
 * RUNNER_AUTH_TOKEN every request needs `Authorization: Bearer <token>`; without it every request is
 * refused, unless the operator says explicitly that callers are authenticated elsewhere
 * (RUNNER_ALLOW_UNAUTHENTICATED=true: Cloud Run IAM, which the Terraform module sets up, or a proxy).
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export type AuthPolicy =
  /** Every request needs this bearer token. */
  | { kind: 'token'; token: string; ignoredOptOut: boolean }
  /** The operator opted out: callers are authenticated in front of the runner (or not at all). */
  | { kind: 'open' }
  /** Neither a token nor an explicit opt-out (or an invalid one): every request is refused. */
  | { kind: 'refused'; variable: string; problem: string };

type Env = Partial<Record<string, string | undefined>>;

/** Reads the policy from the environment; never throws, a bad value refuses every request. */
export function authPolicy(env: Env): AuthPolicy {
  const token = env.RUNNER_AUTH_TOKEN?.trim() || null;
  const raw = env.RUNNER_ALLOW_UNAUTHENTICATED?.trim().toLowerCase() || undefined;
  const optOut = raw === 'true';
  if (token !== null) return { kind: 'token', token, ignoredOptOut: optOut };
  if (raw !== undefined && raw !== 'true' && raw !== 'false') {
    return {
      kind: 'refused',
      variable: 'RUNNER_ALLOW_UNAUTHENTICATED',
      problem: 'must be true or false',
    };
  }
  if (optOut) return { kind: 'open' };
  return {
    kind: 'refused',
    variable: 'RUNNER_AUTH_TOKEN',
    problem:
      'is not set: set it (every request then needs Authorization: Bearer <token>), or set ' +
      'RUNNER_ALLOW_UNAUTHENTICATED=true when callers are authenticated in front of the runner (Cloud Run IAM)',
  };
}

/** The once-per-instance log line that says which choice is in force. */
export function describePolicy(policy: AuthPolicy): { level: 'info' | 'warning' | 'error'; message: string } {
  switch (policy.kind) {
    case 'token':
      return {
        level: policy.ignoredOptOut ? 'warning' : 'info',
        message: policy.ignoredOptOut
          ? 'every request needs Authorization: Bearer <RUNNER_AUTH_TOKEN>; RUNNER_ALLOW_UNAUTHENTICATED is ignored while a token is set'
          : 'every request needs Authorization: Bearer <RUNNER_AUTH_TOKEN>',
      };
    case 'open':
      return {
        level: 'warning',
        message:
          'serving without authentication (RUNNER_ALLOW_UNAUTHENTICATED=true): safe only when callers are authenticated in front of the runner, as Cloud Run IAM does',
      };
    case 'refused':
      return { level: 'error', message: `refusing every request: ${policy.variable} ${policy.problem}` };
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Constant time whatever the lengths: both sides are reduced to SHA-256 digests before comparing. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer[ \t]+(.+?)[ \t]*$/i.exec(header ?? '');
  const given = match?.[1] ?? '';
  const equal = timingSafeEqual(digest(given), digest(token));
  return equal && given.length > 0;
}

export type AuthDecision =
  | { allowed: true }
  | { allowed: false; status: 401; error: string }
  | { allowed: false; status: 500; error: string; variable: string };

/** What a request with this Authorization header gets under the policy. */
export function authorize(policy: AuthPolicy, authorization: string | undefined): AuthDecision {
  if (policy.kind === 'open') return { allowed: true };
  if (policy.kind === 'refused') {
    return {
      allowed: false,
      status: 500,
      error: `configuration error: ${policy.variable}: ${policy.problem}`,
      variable: policy.variable,
    };
  }
  if (bearerMatches(authorization, policy.token)) return { allowed: true };
  return { allowed: false, status: 401, error: 'a valid Authorization: Bearer token is required' };
}
