/**
 * Secret redaction (invariant 9). Known secret values (from the configuration) and credentials inside
 * URLs are replaced before anything is logged or answered. Callers still avoid printing connection
 * strings at all; this is the net under them.
 */
const secrets = new Set<string>();

/** Registers values that must never be printed (passwords, tokens, connection strings). */
export function registerSecrets(values: Iterable<string | null | undefined>): void {
  for (const value of values) {
    // Very short values would redact ordinary words; they are still kept out of messages by design.
    if (value && value.length >= 4) secrets.add(value);
  }
}

const urlCredentials = /([a-z][a-z0-9+.-]*:\/\/)([^/\s:@]*)(:[^/\s@]*)?@/gi;
const passwordParameter = /\b(password|passwd|pwd|token|secret)=([^&\s]+)/gi;
const authorizationValue = /\b(Basic|Bearer)\s+[A-Za-z0-9+/=._~-]{6,}/g;

export function redact(text: string): string {
  let result = text;
  for (const secret of secrets) {
    if (result.includes(secret)) result = result.split(secret).join('[redacted]');
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret && result.includes(encoded)) result = result.split(encoded).join('[redacted]');
  }
  return result
    .replace(urlCredentials, (_match, scheme: string) => `${scheme}[redacted]@`)
    .replace(passwordParameter, (_match, key: string) => `${key}=[redacted]`)
    .replace(authorizationValue, (_match, kind: string) => `${kind} [redacted]`);
}

/** Deep-redacts a JSON-like value (strings anywhere inside it). */
export function redactValue<T>(value: T): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map((item) => redactValue(item)) as T;
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = redactValue(item);
    return out as T;
  }
  return value;
}

/** An error reduced to a safe message: its text and code, redacted. */
export function errorMessage(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return redact(error.errors.map((inner) => errorMessage(inner)).join('; '));
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const text = error.message || String(code ?? error.name);
    return redact(typeof code === 'string' && !text.includes(code) ? `${text} (${code})` : text);
  }
  return redact(String(error));
}
