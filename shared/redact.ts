/**
 * Secret redaction (invariant 9). Known secret values (from the configuration) and credentials inside
 * URLs are replaced before anything is logged or answered. Callers still avoid printing connection
 * strings at all; this is the net under them.
 *
 * Two rules keep the net from tearing what it holds:
 * - Names from the configuration (targets, databases, channels) are never redacted: a secret found
 *   only inside such a name, as a whole word of the text, is left alone. With database password `root`
 *   the channel `root` stays `root`; with `odoo`, the database `odoo` keeps its name. A name is public
 *   (it is printed as a name anyway), so printing it where it equals a password reveals nothing more.
 *   Credentials in URLs, `password=` parameters and Authorization values are redacted regardless.
 * - The cost does not grow with the number of secrets: every secret is indexed once under one of its
 *   4-character grams (the rarest), and a text is scanned once, looking each of its grams up; 10,000
 *   targets' URLs and passwords cost the same per string as one.
 */
const GRAM = 4;
/** Secrets shorter than a gram would redact ordinary words; they are kept out of messages by design. */
const MIN_SECRET_LENGTH = GRAM;

const secrets = new Set<string>();
/** Protected words: configured names and their dot-separated parts. */
const names = new Set<string>();

interface Entry {
  pattern: string;
  /** Where the indexed gram sits inside the pattern. */
  offset: number;
}

interface Index {
  grams: Map<string, Entry[]>;
  /** A filter on gram hashes: most positions of a text are rejected without building a string. */
  filter: Uint8Array;
}

let index: Index | null = null;

const FILTER_BITS = 16;
const FILTER_MASK = (1 << FILTER_BITS) - 1;

function gramHash(text: string, at: number): number {
  let hash = 0;
  for (let i = 0; i < GRAM; i++) hash = (Math.imul(hash, 31) + text.charCodeAt(at + i)) | 0;
  return hash & FILTER_MASK;
}

function buildIndex(): Index {
  const patterns = new Set<string>();
  for (const secret of secrets) {
    patterns.add(secret);
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) patterns.add(encoded);
  }
  // How often each gram (by hash) occurs across the patterns: each pattern is filed under its rarest,
  // so 10,000 URLs that all start with "postgres://" are filed under grams of their passwords or hosts.
  const counts = new Uint32Array(FILTER_MASK + 1);
  for (const pattern of patterns) {
    for (let i = 0; i + GRAM <= pattern.length; i++) counts[gramHash(pattern, i)]! += 1;
  }
  const grams = new Map<string, Entry[]>();
  const filter = new Uint8Array(FILTER_MASK + 1);
  for (const pattern of patterns) {
    let offset = 0;
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i + GRAM <= pattern.length; i++) {
      const count = counts[gramHash(pattern, i)]!;
      if (count < best) {
        best = count;
        offset = i;
      }
    }
    const gram = pattern.slice(offset, offset + GRAM);
    const list = grams.get(gram);
    if (list) list.push({ pattern, offset });
    else grams.set(gram, [{ pattern, offset }]);
    filter[gramHash(pattern, offset)] = 1;
  }
  return { grams, filter };
}

/** Registers values that must never be printed (passwords, tokens, connection strings). */
export function registerSecrets(values: Iterable<string | null | undefined>): void {
  for (const value of values) {
    if (value && value.length >= MIN_SECRET_LENGTH && !secrets.has(value)) {
      secrets.add(value);
      index = null;
    }
  }
}

/** Registers names from the configuration (targets, databases, channels), which are never redacted. */
export function registerNames(values: Iterable<string | null | undefined>): void {
  for (const value of values) {
    if (!value) continue;
    names.add(value);
    for (const part of value.split('.')) if (part) names.add(part);
  }
}

/** Tests and benchmarks: forget every registered secret and name. */
export function resetRedaction(): void {
  secrets.clear();
  names.clear();
  index = null;
}

/** A character of a word: a name is a whole word, bounded by anything else (space, quote, `.`, `/`, `:`). */
function wordCharacter(code: number): boolean {
  return (
    (code >= 48 && code <= 57) || // 0-9
    (code >= 65 && code <= 90) || // A-Z
    (code >= 97 && code <= 122) || // a-z
    code === 95 || // _
    code === 45 || // -
    code > 127 // letters of other scripts: PostgreSQL names may use them
  );
}

/** Whether [start, end) lies inside one word of the text that is a configured name. */
function insideName(text: string, start: number, end: number): boolean {
  if (names.size === 0) return false;
  let from = start;
  while (from > 0 && wordCharacter(text.charCodeAt(from - 1))) from--;
  let to = start;
  while (to < text.length && wordCharacter(text.charCodeAt(to))) to++;
  return end <= to && names.has(text.slice(from, to));
}

/** The spans of the text that hold a registered secret, outside configured names. */
function secretSpans(text: string): [number, number][] {
  if (secrets.size === 0 || text.length < GRAM) return [];
  index ??= buildIndex();
  const { grams, filter } = index;
  const spans: [number, number][] = [];
  for (let i = 0; i + GRAM <= text.length; i++) {
    if (filter[gramHash(text, i)] === 0) continue;
    const entries = grams.get(text.slice(i, i + GRAM));
    if (!entries) continue;
    for (const { pattern, offset } of entries) {
      const start = i - offset;
      if (start < 0 || !text.startsWith(pattern, start)) continue;
      const end = start + pattern.length;
      if (!insideName(text, start, end)) spans.push([start, end]);
    }
  }
  return spans;
}

function replaceSpans(text: string, spans: [number, number][]): string {
  if (spans.length === 0) return text;
  spans.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  let result = '';
  let at = 0;
  let open: [number, number] | null = null;
  for (const span of spans) {
    if (open && span[0] <= open[1]) {
      open[1] = Math.max(open[1], span[1]);
      continue;
    }
    if (open) {
      result += `${text.slice(at, open[0])}[redacted]`;
      at = open[1];
    }
    open = [span[0], span[1]];
  }
  if (open) {
    result += `${text.slice(at, open[0])}[redacted]`;
    at = open[1];
  }
  return result + text.slice(at);
}

const urlCredentials = /([a-z][a-z0-9+.-]*:\/\/)([^/\s:@]*)(:[^/\s@]*)?@/gi;
const passwordParameter = /\b(password|passwd|pwd|token|secret)=([^&\s]+)/gi;
const authorizationValue = /\b(Basic|Bearer)\s+[A-Za-z0-9+/=._~-]{6,}/g;

export function redact(text: string): string {
  return replaceSpans(text, secretSpans(text))
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
