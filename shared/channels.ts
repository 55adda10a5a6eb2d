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
  /**
   * 18.0 `paused` (OCA/queue#960): the channel yields no job and blocks its whole subtree, while its
   * capacity stays configured. Set only when the option is given and true.
   */
  paused?: true;
  /**
   * 18.0 `capacity_default` (OCA/queue#767): the capacity of this channel's unconfigured direct
   * sub-channels (each its own limit); null = unlimited (upstream: 0). Set only when given.
   */
  capacityDefault?: number | null;
  /** 18.0 `sequential_default` (OCA/queue#767): this channel's unconfigured direct sub-channels are sequential. */
  sequentialDefault?: true;
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

/** Upstream `bool(value)`: a bare key or any non-empty value (even '0') is true, only 'key=' is false. */
function pyBool(value: string | true | undefined): boolean {
  return value === true || (value !== undefined && value !== '');
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

  const sequential = pyBool(keys.get('sequential'));
  // Upstream `int(value)`: a bare key is `int(True)`, 1.
  const integer = (key: string): number | undefined => {
    const value = keys.get(key);
    return value === undefined ? undefined : value === true ? 1 : wholeNumber(entry, key, value);
  };
  const throttle = integer('throttle') ?? 0;
  if (sequential && capacity !== 1) {
    throw new ChannelsError(`channel entry '${entry}': a sequential channel must have a capacity of 1`);
  }
  // Upstream `has_capacity`: a falsy capacity (0) means unlimited, root included when it is not leading
  // (a leading 'root:0' disables the runner instead, see `runnerDisabled`).
  const config: ChannelConfig = {
    name: normalizeChannel(name),
    capacity: capacity === 0 ? null : capacity,
    sequential,
    throttle,
  };
  // 18.0 options (bool() / int() as upstream's `Channel.configure` reads them); older series ignore
  // unknown keys, so a configuration using them means the same thing to this runner on every series.
  if (pyBool(keys.get('paused'))) config.paused = true;
  const capacityDefault = integer('capacity_default');
  if (capacityDefault !== undefined) config.capacityDefault = capacityDefault === 0 ? null : capacityDefault;
  if (pyBool(keys.get('sequential_default'))) config.sequentialDefault = true;
  return config;
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
  /**
   * Channels that govern a job of this raw channel, nearest first, root last: its own and every
   * ancestor that is configured, or that an 18.0 `capacity_default`/`sequential_default` of its parent
   * gives a limit of its own (an auto-created sub-channel).
   */
  limits(raw: string | null | undefined): readonly ChannelConfig[];
  /** The channel of this complete name as the planner sees it (configured, auto-created with a default), if it limits anything. */
  channel(name: string): ChannelConfig | undefined;
}

/** Builds the tree; later configs of the same name win, and a missing root is upstream's default root:1. */
export function channelTree(configs: readonly ChannelConfig[]): ChannelTree {
  const configured = new Map<string, ChannelConfig>([
    [ROOT, { name: ROOT, capacity: 1, sequential: false, throttle: 0 }],
  ]);
  for (const config of configs) configured.set(config.name, config);
  const root = configured.get(ROOT)!;

  // An unconfigured channel is auto-created by upstream with capacity None (no limit of its own) under
  // the nearest configured ancestor; since 18.0 a configured parent's `capacity_default` and
  // `sequential_default` become the settings of its auto-created direct children (each child its own
  // limit, shared by that child's subtree). An auto-created channel has no defaults of its own.
  const auto = new Map<string, ChannelConfig | null>();
  function autoChannel(name: string, parent: ChannelConfig | undefined): ChannelConfig | null {
    if (auto.has(name)) return auto.get(name)!;
    const capacity = parent?.capacityDefault ?? null;
    const sequential = parent?.sequentialDefault === true;
    const made = capacity === null && !sequential ? null : { name, capacity, sequential, throttle: 0 };
    auto.set(name, made);
    return made;
  }

  function channel(name: string): ChannelConfig | undefined {
    const own = configured.get(name);
    if (own || name === ROOT) return own;
    const parent =
      name.lastIndexOf('.') > 0 ? configured.get(name.slice(0, name.lastIndexOf('.'))) : undefined;
    return autoChannel(name, parent) ?? undefined;
  }

  // Walking up the dotted name yields exactly the ancestors ('root.ab' is not under 'root.a': we cut at
  // dots, never at arbitrary prefixes).
  const memo = new Map<string, readonly ChannelConfig[]>();
  function limits(raw: string | null | undefined): readonly ChannelConfig[] {
    const key = raw ?? '';
    const known = memo.get(key);
    if (known) return known;
    const found: ChannelConfig[] = [];
    let name = normalizeChannel(raw);
    while (name !== ROOT) {
      const config = channel(name);
      if (config) found.push(config);
      name = name.slice(0, name.lastIndexOf('.'));
    }
    found.push(root);
    memo.set(key, found);
    return found;
  }
  return { root, configured, limits, channel };
}
