// The `ODOO_QUEUE_JOB_CHANNELS` grammar and the channel tree, as upstream's
// `queue_job/jobrunner/channels.py` (`ChannelManager.parse_simple_config`, `Channel.configure`,
// `get_channel_by_name(parent_fallback=True)`) defines them. Pure: no I/O.

export interface ChannelConfig {
  /** complete name: 'root' or 'root.a.b' */
  name: string;
  /** null = unlimited (upstream: capacity 0 or None below root) */
  capacity: number | null;
  sequential: boolean;
  /** seconds between two jobs leaving this channel; 0 = none */
  throttle: number;
}

export class ChannelsError extends Error {
  override name = 'ChannelsError';
}

const ROOT = 'root';

/** Upstream `get_channel_by_name`: ''/null/'root' → 'root'; a name without the `root.` prefix gets it. */
export function normalizeChannel(raw: string | null | undefined): string {
  if (!raw || raw === ROOT) return ROOT;
  return raw.startsWith(`${ROOT}.`) ? raw : `${ROOT}.${raw}`;
}

/**
 * Python's `str.strip()` (what upstream's `split_strip` uses): the characters `str.isspace()` accepts.
 * JavaScript's `trim()` differs: it keeps \x1c-\x1f and \x85, and strips U+FEFF, which Python keeps.
 */
const PY_SPACE = '\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000';
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');

export function pyStrip(text: string): string {
  return text.replace(PY_STRIP, '');
}

/** Upstream starts no runner when the stripped channels text starts with 'root:0' (so 'root:05' too). */
export function runnerDisabled(text: string): boolean {
  return pyStrip(text).startsWith(`${ROOT}:0`);
}

/**
 * Upstream accepts what Python's `int()` accepts; we take the plain decimal subset of it (no `1_0`),
 * and refuse negative numbers (stricter). Upstream takes them silently and to odd effect: a capacity of
 * -1 is truthy, so `has_capacity` compares `running < -1` and the channel never yields a job (it is
 * blocked, not unlimited); a negative throttle pauses the channel until a moment already past.
 */
function wholeNumber(entry: string, what: string, text: string): number {
  if (!/^[+-]?[0-9]+$/.test(text)) {
    throw new ChannelsError(`channel entry '${entry}': ${what} '${text}' is not an integer`);
  }
  const value = Number(text) + 0; // `+ 0` turns '-0' into 0
  if (value < 0) throw new ChannelsError(`channel entry '${entry}': ${what} '${text}' must not be negative`);
  if (!Number.isSafeInteger(value))
    throw new ChannelsError(`channel entry '${entry}': ${what} '${text}' is too large`);
  return value;
}

/**
 * A byte-order mark is not whitespace to Python: upstream would keep it in the name ('\ufeffroot:4'
 * configures a channel 'root.\ufeffroot' and leaves root at 1). Nobody means that; refuse it by name.
 */
function refuseInvisible(entry: string): void {
  if (entry.includes('\ufeff')) {
    throw new ChannelsError(
      `channel entry '${entry.replace(/\ufeff/g, '<U+FEFF>')}': contains U+FEFF (a byte-order mark, often left by an editor at the start of a file); remove it`,
    );
  }
}

/** One entry `name[:capacity[:key[=value]]...]`, already stripped and non-empty. */
function parseEntry(entry: string): ChannelConfig {
  refuseInvisible(entry);
  const [name = '', capacityText, ...items] = entry.split(':').map(pyStrip);
  if (!name) throw new ChannelsError(`channel entry '${entry}': missing channel name`);
  // Upstream: an entry without capacity is capacity 1, and keys can only follow a capacity.
  const capacity = capacityText === undefined ? 1 : wholeNumber(entry, 'capacity', capacityText);
  // Upstream keeps `name` and `capacity` in the same dict as the keys, so `:capacity=2` is a duplicate too.
  const keys = new Map<string, string | true>([
    ['name', name],
    ['capacity', String(capacity)],
  ]);
  for (const item of items) {
    const kv = item.split('=').map(pyStrip);
    if (kv.length > 2) throw new ChannelsError(`channel entry '${entry}': incorrect option '${item}'`);
    const [key = '', value = true] = kv;
    if (keys.has(key)) throw new ChannelsError(`channel entry '${entry}': duplicate option '${key}'`);
    keys.set(key, value); // unknown options are kept by upstream and never used; so are they here
  }

  // Upstream `bool(value)`: a bare key or any non-empty value (even '0') is true, only 'sequential=' is false.
  const sequentialValue = keys.get('sequential');
  const sequential = sequentialValue === true || (sequentialValue !== undefined && sequentialValue !== '');
  // Upstream `int(value)`: a bare `throttle` is `int(True)`, one second.
  const throttleValue = keys.get('throttle');
  const throttle =
    throttleValue === undefined
      ? 0
      : throttleValue === true
        ? 1
        : wholeNumber(entry, 'throttle', throttleValue);
  if (sequential && capacity !== 1) {
    throw new ChannelsError(`channel entry '${entry}': a sequential channel must have a capacity of 1`);
  }
  // Upstream `has_capacity`: a falsy capacity (0) means unlimited, root included when it is not leading
  // (a leading 'root:0' disables the runner instead, see `runnerDisabled`).
  return { name: normalizeChannel(name), capacity: capacity === 0 ? null : capacity, sequential, throttle };
}

/**
 * Parses the channels text. Always returns root first (capacity 1 unless configured), then every
 * configured channel once: a channel configured twice takes its last entry, as upstream's
 * `Channel.configure` overwrites every setting.
 */
export function parseChannels(text: string): ChannelConfig[] {
  const byName = new Map<string, ChannelConfig>([
    [ROOT, { name: ROOT, capacity: 1, sequential: false, throttle: 0 }],
  ]);
  for (const raw of text.split(/[,\n]/)) {
    const entry = pyStrip(raw);
    if (!entry) continue; // trailing commas, blank lines
    const config = parseEntry(entry);
    byName.set(config.name, config);
  }
  return [...byName.values()];
}

export interface ChannelTree {
  readonly root: ChannelConfig;
  readonly configured: ReadonlyMap<string, ChannelConfig>;
  /** configured channels that govern a job of this raw channel: its own (if configured) and every configured ancestor, nearest first, root last */
  limits(raw: string | null | undefined): readonly ChannelConfig[];
}

/** Builds the tree; later configs of the same name win, and a missing root is upstream's default root:1. */
export function channelTree(configs: readonly ChannelConfig[]): ChannelTree {
  const configured = new Map<string, ChannelConfig>([
    [ROOT, { name: ROOT, capacity: 1, sequential: false, throttle: 0 }],
  ]);
  for (const config of configs) configured.set(config.name, config);
  const root = configured.get(ROOT)!;

  // Unconfigured channels add no limit of their own: upstream auto-creates them with capacity None
  // under the nearest configured ancestor. Walking up the dotted name yields exactly the configured
  // ancestors ('root.ab' is not under 'root.a': we cut at dots, never at arbitrary prefixes).
  const memo = new Map<string, readonly ChannelConfig[]>();
  function limits(raw: string | null | undefined): readonly ChannelConfig[] {
    const key = raw ?? '';
    const known = memo.get(key);
    if (known) return known;
    const found: ChannelConfig[] = [];
    let name = normalizeChannel(raw);
    while (name !== ROOT) {
      const config = configured.get(name);
      if (config) found.push(config);
      name = name.slice(0, name.lastIndexOf('.'));
    }
    found.push(root);
    memo.set(key, found);
    return found;
  }
  return { root, configured, limits };
}
