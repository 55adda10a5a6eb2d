import { describe, expect, it } from 'vitest';
import {
  type ChannelConfig,
  ChannelsError,
  channelTree,
  normalizeChannel,
  parseChannels,
  runnerDisabled,
} from '../shared/channels.ts';

const ch = (name: string, capacity: number | null, extra: Partial<ChannelConfig> = {}): ChannelConfig => ({
  name,
  capacity,
  sequential: false,
  throttle: 0,
  ...extra,
});

/** Expects parseChannels(text) to fail with a ChannelsError whose message matches. */
function rejects(text: string, message: RegExp): void {
  let error: unknown;
  try {
    parseChannels(text);
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(ChannelsError);
  expect((error as Error).message).toMatch(message);
  // The caller (config) names the variable; the grammar never does.
  expect((error as Error).message).not.toMatch(/ODOO_QUEUE_JOB_CHANNELS|config_items|capacityText/);
}

describe('parseChannels: contract section 4', () => {
  it('parses the upstream example', () => {
    expect(parseChannels('root:4,root.sub:2,root.seq:1:sequential,root.api:2:throttle=5')).toEqual([
      ch('root', 4),
      ch('root.sub', 2),
      ch('root.seq', 1, { sequential: true }),
      ch('root.api', 2, { throttle: 5 }),
    ]);
  });

  it('splits entries on commas and newlines, strips whitespace, ignores empty entries', () => {
    // upstream doctest: '\n root : 4,\n ,\n foo bar:1: k=va lue,\n'
    expect(parseChannels('\n    root : 4,\n    ,\n    foo bar:1: k=va lue,\n')).toEqual([
      ch('root', 4),
      ch('root.foo bar', 1),
    ]);
    // upstream doctest: line breaks instead of commas
    expect(parseChannels('\n    root : 4\n    foo bar:1: k=va lue\n    baz\n')).toEqual([
      ch('root', 4),
      ch('root.foo bar', 1),
      ch('root.baz', 1),
    ]);
    expect(parseChannels('root:2\r\na:1\r\n')).toEqual([ch('root', 2), ch('root.a', 1)]);
    expect(parseChannels(' , ,\n\n,')).toEqual([ch('root', 1)]);
  });

  it('accepts names without the root. prefix', () => {
    expect(parseChannels('sub:2')).toEqual(parseChannels('root.sub:2'));
    expect(parseChannels('autosub.sub:2')).toEqual([ch('root', 1), ch('root.autosub.sub', 2)]);
    // only a 'root.' prefix counts: 'rootx' is a child of root
    expect(parseChannels('rootx:3')).toEqual([ch('root', 1), ch('root.rootx', 3)]);
  });

  it('defaults a missing capacity to 1', () => {
    expect(parseChannels('root')).toEqual([ch('root', 1)]);
    expect(parseChannels('root:3,baz')).toEqual([ch('root', 3), ch('root.baz', 1)]);
  });

  it('accepts what Python int() accepts for a plain decimal capacity', () => {
    expect(parseChannels('root: +4 ,a:007')).toEqual([ch('root', 4), ch('root.a', 7)]);
  });

  it('rejects a non-integer capacity, naming the entry', () => {
    rejects('root:4,a:4.5', /'a:4\.5'.*capacity '4\.5' is not an integer/);
    rejects('a:x', /'a:x'.*capacity 'x' is not an integer/);
    rejects('a:', /'a:'.*capacity '' is not an integer/);
    rejects('a:1e3', /capacity '1e3' is not an integer/);
    rejects('a:0x10', /capacity '0x10' is not an integer/);
    // a key where the capacity should be is a bad capacity, as upstream
    rejects('a:sequential', /capacity 'sequential' is not an integer/);
  });

  it('rejects a negative capacity (stricter than upstream, where -1 blocks the channel)', () => {
    rejects('a:-1', /'a:-1'.*capacity '-1' must not be negative/);
    expect(parseChannels('a:-0')).toEqual([ch('root', 1), ch('root.a', null)]);
  });

  it('rejects an absurdly large capacity', () => {
    rejects('a:99999999999999999999', /too large/);
  });

  it('rejects an entry without a name', () => {
    rejects('root:2,:3', /':3'.*missing channel name/);
    rejects(' : ', /missing channel name/);
  });

  it('treats a key without value as true', () => {
    expect(parseChannels('s:1:sequential')).toEqual([ch('root', 1), ch('root.s', 1, { sequential: true })]);
  });

  it('rejects a duplicate key, naming it', () => {
    rejects('s:1:sequential:sequential', /'s:1:sequential:sequential'.*duplicate option 'sequential'/);
    rejects('a:2:throttle=1:throttle=2', /duplicate option 'throttle'/);
    // upstream keeps name and capacity in the same dict as the options
    rejects('a:2:capacity=3', /duplicate option 'capacity'/);
    rejects('a:2:name=b', /duplicate option 'name'/);
  });

  it('rejects an option with two "="', () => {
    rejects('a:2:k=v=w', /'a:2:k=v=w'.*incorrect option 'k=v=w'/);
  });

  it('counts sequential as upstream bool(value): any non-empty value is true', () => {
    for (const value of ['0', 'false', 'False', 'no', '1']) {
      expect(parseChannels(`s:1:sequential=${value}`)[1]).toEqual(ch('root.s', 1, { sequential: true }));
    }
    // bool('') is False upstream
    expect(parseChannels('s:1:sequential=')[1]).toEqual(ch('root.s', 1));
    expect(parseChannels('s:2:sequential=')[1]).toEqual(ch('root.s', 2));
  });

  it('requires capacity 1 for a sequential channel', () => {
    rejects('s:2:sequential', /'s:2:sequential'.*sequential channel must have a capacity of 1/);
    rejects('s:0:sequential', /capacity of 1/);
    rejects('s:2:sequential=0', /capacity of 1/);
    expect(parseChannels('s:+1:sequential')[1]).toEqual(ch('root.s', 1, { sequential: true }));
  });

  it('parses throttle as integer seconds', () => {
    expect(parseChannels('api:2:throttle=5')[1]).toEqual(ch('root.api', 2, { throttle: 5 }));
    expect(parseChannels('api:2: throttle = 7 ')[1]).toEqual(ch('root.api', 2, { throttle: 7 }));
    expect(parseChannels('api:2:throttle=0')[1]).toEqual(ch('root.api', 2));
    // upstream int(True) == 1
    expect(parseChannels('api:2:throttle')[1]).toEqual(ch('root.api', 2, { throttle: 1 }));
    rejects('api:2:throttle=2.5', /'api:2:throttle=2\.5'.*throttle '2\.5' is not an integer/);
    rejects('api:2:throttle=x', /throttle 'x' is not an integer/);
    rejects('api:2:throttle=', /throttle '' is not an integer/);
    rejects('api:2:throttle=-5', /throttle '-5' must not be negative/);
  });

  it('parses and ignores unknown keys', () => {
    expect(parseChannels('root:4,root.sub:2:sequential2:k=v:foo= bar')).toEqual([
      ch('root', 4),
      ch('root.sub', 2),
    ]);
    // a trailing ':' is an empty option name, harmless upstream
    expect(parseChannels('a:2:')).toEqual([ch('root', 1), ch('root.a', 2)]);
  });

  it('treats capacity 0 below root as unlimited', () => {
    expect(parseChannels('root:4,big:0,big.small:2')).toEqual([
      ch('root', 4),
      ch('root.big', null),
      ch('root.big.small', 2),
    ]);
    expect(parseChannels('root:2,wide:0:throttle=3')[1]).toEqual(ch('root.wide', null, { throttle: 3 }));
  });

  it('defaults root to capacity 1 when it is not configured', () => {
    expect(parseChannels('')).toEqual([ch('root', 1)]);
    expect(parseChannels('a:3,b:2')).toEqual([ch('root', 1), ch('root.a', 3), ch('root.b', 2)]);
  });

  it('lets the last entry of a channel configured twice win, whole', () => {
    expect(parseChannels('s:1:sequential,root:2,s:3')).toEqual([ch('root', 2), ch('root.s', 3)]);
    expect(parseChannels('root:2,root:5,sub:1,root.sub:4:throttle=2')).toEqual([
      ch('root', 5),
      ch('root.sub', 4, { throttle: 2 }),
    ]);
  });

  it('reads a root:0 that is not leading as an unlimited root, as upstream', () => {
    expect(parseChannels('a:1,root:0')).toEqual([ch('root', null), ch('root.a', 1)]);
    expect(runnerDisabled('a:1,root:0')).toBe(false);
    // a leading root:0 parses the same way; it is runnerDisabled that turns the runner off
    expect(parseChannels('root:0')).toEqual([ch('root', null)]);
  });

  it('keeps spaces inside names, as upstream', () => {
    expect(parseChannels('foo bar:1')).toEqual([ch('root', 1), ch('root.foo bar', 1)]);
  });
});

describe('runnerDisabled', () => {
  it.each([
    ['root:0', true],
    ['  root:0  ', true],
    ['\nroot:0,a:1', true],
    ['root:05', true], // upstream's startswith rule
    ['root:0:throttle=1', true],
    ['root:1', false],
    ['root:10', false],
    ['', false],
    ['a:1,root:0', false],
    ['root : 0', false], // upstream does not strip inside the entry
    ['sub:0', false],
  ])('%j → %s', (text, disabled) => {
    expect(runnerDisabled(text)).toBe(disabled);
  });
});

describe('normalizeChannel', () => {
  it.each([
    [null, 'root'],
    [undefined, 'root'],
    ['', 'root'],
    ['root', 'root'],
    ['x', 'root.x'],
    ['x.y', 'root.x.y'],
    ['root.x', 'root.x'],
    ['root.x.y', 'root.x.y'],
    ['rootx', 'root.rootx'],
    ['root.root', 'root.root'],
  ] as const)('%j → %j', (raw, name) => {
    expect(normalizeChannel(raw)).toBe(name);
  });
});

describe('channelTree', () => {
  const names = (list: readonly ChannelConfig[]) => list.map((c) => c.name);

  it('adds a default root:1 when the configs have none', () => {
    const tree = channelTree([ch('root.a', 2)]);
    expect(tree.root).toEqual(ch('root', 1));
    expect([...tree.configured.keys()]).toEqual(['root', 'root.a']);
  });

  it('keeps a configured root and the last config of a name', () => {
    const tree = channelTree([ch('root', 4), ch('root.a', 2), ch('root.a', 3)]);
    expect(tree.root).toEqual(ch('root', 4));
    expect(tree.configured.get('root.a')).toEqual(ch('root.a', 3));
  });

  it('gives root alone for NULL, empty and root', () => {
    const tree = channelTree(parseChannels('root:4,a:2'));
    for (const raw of [null, undefined, '', 'root']) expect(names(tree.limits(raw))).toEqual(['root']);
  });

  it('gives a configured channel and its configured ancestors, nearest first, root last', () => {
    const tree = channelTree(parseChannels('root:4,root.sub:2,root.sub.deep:1'));
    expect(names(tree.limits('root.sub.deep'))).toEqual(['root.sub.deep', 'root.sub', 'root']);
    expect(names(tree.limits('sub.deep'))).toEqual(['root.sub.deep', 'root.sub', 'root']);
    expect(names(tree.limits('root.sub'))).toEqual(['root.sub', 'root']);
  });

  it('puts an unconfigured channel under its nearest configured ancestor', () => {
    const tree = channelTree(parseChannels('root:4,edi:2'));
    expect(names(tree.limits('root.edi.foo'))).toEqual(['root.edi', 'root']);
    expect(names(tree.limits('edi.foo.baz'))).toEqual(['root.edi', 'root']);
    expect(names(tree.limits('other'))).toEqual(['root']);
  });

  it("follows upstream's documented intent, not its lookup quirk: root.a.x is not limited by root.a.a", () => {
    // upstream's get_channel_by_name(parent_fallback=True) rebuilds 'root.a.x' under root.a as
    // 'root.a.a.x', so a configured root.a.a limits it; the README says why the runner does not
    const tree = channelTree(parseChannels('root:4,a:2,a.a:1'));
    expect(names(tree.limits('root.a.x'))).toEqual(['root.a', 'root']);
    expect(names(tree.limits('a.a.x'))).toEqual(['root.a.a', 'root.a', 'root']);
    expect(names(channelTree(parseChannels('root:4,sub:2,sub.sub:1')).limits('sub.not.configured'))).toEqual([
      'root.sub',
      'root',
    ]);
  });

  it('skips unconfigured levels in deep nesting', () => {
    const tree = channelTree(parseChannels('root:8,a:4,a.b.c:2,a.b.c.d.e:1'));
    expect(names(tree.limits('root.a.b.c.d.e.f.g'))).toEqual([
      'root.a.b.c.d.e',
      'root.a.b.c',
      'root.a',
      'root',
    ]);
    expect(names(tree.limits('a.b.c.d'))).toEqual(['root.a.b.c', 'root.a', 'root']);
    expect(names(tree.limits('a.b'))).toEqual(['root.a', 'root']);
  });

  it('treats intermediate channels of a configured one as unlimited', () => {
    // upstream auto-creates root.autosub with capacity None
    const tree = channelTree(parseChannels('root:4,autosub.sub:2'));
    expect(names(tree.limits('autosub'))).toEqual(['root']);
    expect(names(tree.limits('autosub.other'))).toEqual(['root']);
    expect(names(tree.limits('autosub.sub.x'))).toEqual(['root.autosub.sub', 'root']);
  });

  it('cuts at dots only: root.ab is not under root.a', () => {
    const tree = channelTree(parseChannels('root:4,a:1,a.b:1'));
    expect(names(tree.limits('root.ab'))).toEqual(['root']);
    expect(names(tree.limits('ab.c'))).toEqual(['root']);
    expect(names(tree.limits('root.a.bc'))).toEqual(['root.a', 'root']);
    expect(names(tree.limits('rootx'))).toEqual(['root']);
  });

  it('handles names with empty segments without looping', () => {
    const tree = channelTree(parseChannels('root:4,a:1'));
    expect(names(tree.limits('root.'))).toEqual(['root']);
    expect(names(tree.limits('a..b'))).toEqual(['root.a', 'root']);
    expect(names(tree.limits('.a'))).toEqual(['root']);
  });

  it('memoizes limits per raw name', () => {
    const tree = channelTree(parseChannels('root:4,a:1'));
    expect(tree.limits('a.x')).toBe(tree.limits('a.x'));
    expect(tree.limits(null)).toBe(tree.limits(''));
  });

  it('returns the configs themselves', () => {
    const tree = channelTree(parseChannels('root:4,seq:1:sequential,api:2:throttle=5'));
    expect(tree.limits('seq')[0]).toEqual(ch('root.seq', 1, { sequential: true }));
    expect(tree.limits('api.x')[0]).toEqual(ch('root.api', 2, { throttle: 5 }));
    expect(tree.limits('api.x')[1]).toBe(tree.root);
  });
});

describe('whitespace as Python str.strip() (upstream split_strip)', () => {
  it('strips \\x1c-\\x1f and \\x85, which Python counts as whitespace and JavaScript trim() does not', () => {
    for (const space of ['\x1c', '\x1d', '\x1e', '\x1f', '\x85']) {
      expect(parseChannels(`root:4${space}`)).toEqual([ch('root', 4)]);
      expect(
        parseChannels(`${space}root${space}:${space}4${space},${space}a:2:throttle${space}=${space}3`),
      ).toEqual([ch('root', 4), ch('root.a', 2, { throttle: 3 })]);
      expect(runnerDisabled(`${space}root:0`)).toBe(true);
    }
    // the rest of Python's set, shared with trim()
    expect(parseChannels('\u00a0\u2000root:3\u3000\u2029')).toEqual([ch('root', 3)]);
  });

  it('refuses a byte-order mark, which Python keeps in the name, naming the character', () => {
    rejects('\ufeffroot:4', /U\+FEFF.*byte-order mark/);
    rejects('root:4,a\ufeff:2', /U\+FEFF/);
    // a BOM is not whitespace to upstream either: it does not disable the runner
    expect(runnerDisabled('\ufeffroot:0')).toBe(false);
  });
});

describe('18.0 channel options (OCA/queue#960, #767)', () => {
  it('paused: bool(value) as upstream Channel.configure, capacity kept', () => {
    expect(parseChannels('root:4,a:2:paused')[1]).toEqual(ch('root.a', 2, { paused: true }));
    expect(parseChannels('root:4,a:2:paused=0')[1]).toEqual(ch('root.a', 2, { paused: true }));
    expect(parseChannels('root:4,a:2:paused=')[1]).toEqual(ch('root.a', 2));
    expect(parseChannels('root:4:paused')[0]).toEqual(ch('root', 4, { paused: true }));
    rejects('a:2:paused:paused', /duplicate option 'paused'/);
  });

  it('capacity_default: int(value), 0 = unlimited; sequential_default: bool(value)', () => {
    expect(parseChannels('root:4,sub:3:capacity_default=2')[1]).toEqual(
      ch('root.sub', 3, { capacityDefault: 2 }),
    );
    expect(parseChannels('sub:3:capacity_default=0')[1]).toEqual(
      ch('root.sub', 3, { capacityDefault: null }),
    );
    expect(parseChannels('sub:3:capacity_default')[1]).toEqual(ch('root.sub', 3, { capacityDefault: 1 }));
    rejects('sub:3:capacity_default=x', /capacity_default 'x' is not an integer/);
    rejects('sub:3:capacity_default=-1', /capacity_default '-1' must not be negative/);
    expect(parseChannels('seq:2:sequential_default')[1]).toEqual(
      ch('root.seq', 2, { sequentialDefault: true }),
    );
    expect(parseChannels('seq:2:sequential_default=')[1]).toEqual(ch('root.seq', 2));
  });

  it('capacity_default limits each auto-created direct sub-channel (upstream doctest root.sub.auto → 2)', () => {
    const tree = channelTree(parseChannels('root:4,sub:3:capacity_default=2'));
    const limits = tree.limits('root.sub.auto');
    expect(limits.map((c) => [c.name, c.capacity])).toEqual([
      ['root.sub.auto', 2],
      ['root.sub', 3],
      ['root', 4],
    ]);
    // each auto-created child has its own limit; a grandchild is limited by its auto-created parent
    expect(tree.limits('sub.other')[0]).toMatchObject({ name: 'root.sub.other', capacity: 2 });
    expect(tree.limits('sub.auto.deep').map((c) => c.name)).toEqual(['root.sub.auto', 'root.sub', 'root']);
    // a configured child keeps its own configuration
    const mixed = channelTree(parseChannels('root:4,sub:3:capacity_default=2,sub.big:3'));
    expect(mixed.limits('sub.big')[0]).toMatchObject({ name: 'root.sub.big', capacity: 3 });
    // root's default applies to root's auto-created children
    const top = channelTree(parseChannels('root:4:capacity_default=1'));
    expect(top.limits('anything.x').map((c) => [c.name, c.capacity])).toEqual([
      ['root.anything', 1],
      ['root', 4],
    ]);
    // without the option, nothing changes: auto-created channels add no limit
    expect(
      channelTree(parseChannels('root:4,sub:3'))
        .limits('sub.auto')
        .map((c) => c.name),
    ).toEqual(['root.sub', 'root']);
  });

  it('sequential_default makes each auto-created direct sub-channel sequential (upstream root.seq.auto)', () => {
    const tree = channelTree(parseChannels('root:4,seq:2:capacity_default=1:sequential_default'));
    expect(tree.limits('seq.auto')[0]).toEqual({
      name: 'root.seq.auto',
      capacity: 1,
      sequential: true,
      throttle: 0,
    });
    expect(tree.channel('root.seq.auto')?.sequential).toBe(true);
    expect(tree.channel('root.seq')?.sequential).toBe(false);
    expect(tree.channel('root.other')).toBeUndefined();
  });
});
