/**
 * Settings that load but probably do not mean what the operator thinks: said once at start-up (each
 * function instance, each command), naming the setting. Pure: the caller logs them. Never a value of a
 * secret setting: only names, channel names and positions.
 */
import { normalizeChannel, pyStrip } from './channels.ts';

type Env = Partial<Record<string, string | undefined>>;

export interface SettingWarning {
  setting: string;
  message: string;
}

/** The single-target variables that QUEUE_JOB_TARGETS replaces (each target carries its own). */
const SINGLE_TARGET = ['DATABASE_URL', 'ODOO_BRIDGE_TOKEN', 'ODOO_URL', 'ODOO_DB'];

function present(raw: string | undefined): boolean {
  return raw !== undefined && raw.trim() !== '';
}

/**
 * What a channels text does that reads differently: a channel given twice (upstream keeps the last
 * entry), and `root:0` anywhere but at the start (upstream disables the runner only when the text
 * starts with `root:0`; elsewhere it makes root unlimited).
 */
export function channelWarnings(setting: string, text: string): SettingWarning[] {
  const warnings: SettingWarning[] = [];
  const seen = new Set<string>();
  const entries = text
    .split(/[,\n]/)
    .map((entry) => pyStrip(entry))
    .filter(Boolean);
  entries.forEach((entry, position) => {
    const [rawName = '', capacity] = entry.split(':').map((part) => pyStrip(part));
    const name = normalizeChannel(rawName);
    if (seen.has(name)) {
      warnings.push({
        setting,
        message: `${setting}: channel ${name} is given more than once; the last entry wins`,
      });
    }
    seen.add(name);
    if (name === 'root' && capacity !== undefined && /^0+$/.test(capacity) && position > 0) {
      warnings.push({
        setting,
        message: `${setting}: root:0 after other entries makes root unlimited (as upstream); to disable the runner, start the text with root:0`,
      });
    }
  });
  return warnings;
}

function targetsChannels(text: string): { name: string; channels: string }[] {
  try {
    const parsed: unknown = JSON.parse(text);
    if (!Array.isArray(parsed)) return [];
    return parsed.flatMap((entry) =>
      entry && typeof entry === 'object' && typeof entry.channels === 'string'
        ? [{ name: String(entry.name), channels: entry.channels as string }]
        : [],
    );
  } catch {
    return [];
  }
}

/** Every warning about the environment's settings, in a stable order. */
export function settingWarnings(env: Env): SettingWarning[] {
  const warnings: SettingWarning[] = [];
  if (present(env.QUEUE_JOB_TARGETS)) {
    for (const setting of SINGLE_TARGET) {
      if (present(env[setting])) {
        warnings.push({
          setting,
          message: `${setting} is ignored: QUEUE_JOB_TARGETS is set, and each of its targets carries its own`,
        });
      }
    }
    for (const target of targetsChannels(env.QUEUE_JOB_TARGETS!)) {
      warnings.push(...channelWarnings(`QUEUE_JOB_TARGETS[${target.name}].channels`, target.channels));
    }
  }
  if (present(env.ODOO_QUEUE_JOB_CHANNELS)) {
    warnings.push(...channelWarnings('ODOO_QUEUE_JOB_CHANNELS', env.ODOO_QUEUE_JOB_CHANNELS!));
  }
  return warnings;
}
