// The demo's workload: a realistic mix of jobs, decided entirely by a seed before anything runs, so the
// number of jobs that must fail is known in advance whatever order the runner dispatches them in.
import { seededRandom } from '../stats.ts';

/**
 * Channels as an operator would write ODOO_QUEUE_JOB_CHANNELS: a root capacity shared by everything, a
 * few capped channels, one sequential (accounting entries must post in order) and one throttled (an
 * external webhook allowing one call per second). `root.misc` and `root.workflow` are not configured:
 * they inherit root's limit, as upstream does.
 */
export const DEMO_CHANNELS =
  'root:16,root.sale:6,root.mail:4,root.export:2,root.accounting:1:sequential,root.webhook:1:throttle=1';

/** What the stand-in does with a job: `retry` raises RetryableJobError once, `exhaust` until max_retries. */
export type Fate = 'done' | 'fail' | 'retry' | 'exhaust';
export type Role = 'general' | 'sequential' | 'throttled' | 'chain';

export interface JobSpec {
  /** Position in the scenario: creation order inside each batch follows it. */
  index: number;
  role: Role;
  channel: string;
  priority: number;
  /** `with_delay(eta=…)` in seconds from the job's creation; null = runnable at once. */
  etaSeconds: number | null;
  maxRetries: number;
  fate: Fate;
  durationMs: number;
  /** When the job is committed, in ms after production starts. */
  arrivalMs: number;
}

/** Jobs committed together, in one INSERT (one Odoo transaction creating several jobs). */
export interface Batch {
  arrivalMs: number;
  kind: 'jobs' | 'chain';
  etaSeconds: number | null;
  maxRetries: number;
  specs: JobSpec[];
}

export interface Scenario {
  seed: number;
  total: number;
  channels: string;
  specs: JobSpec[];
  batches: Batch[];
  /** How long new jobs keep arriving after the initial burst. */
  streamMs: number;
  expectedFailures: number;
  /** Retry delay the stand-in gives RetryableJobError (short, so postponed jobs come back quickly). */
  retryDelaySeconds: number;
}

export const MIN_JOBS = 60;
const STREAM_TICK_MS = 50;
const RETRY_DELAY_SECONDS = 1;

const clamp = (value: number, low: number, high: number) => Math.min(high, Math.max(low, value));

/** Job durations per channel, ms: short mails, slower exports, as a real Odoo's mix would be. */
const DURATIONS: Record<string, [number, number]> = {
  'root.sale': [5, 30],
  'root.mail': [2, 10],
  'root.export': [40, 100],
  'root.misc': [5, 20],
  'root.accounting': [3, 10],
  'root.webhook': [10, 20],
  'root.workflow': [5, 15],
};

/** General traffic: channel share and the priorities jobs of that channel are created with. */
const GENERAL: { channel: string; share: number; priorities: number[] }[] = [
  { channel: 'root.sale', share: 0.45, priorities: [5, 10, 10, 20] },
  { channel: 'root.mail', share: 0.3, priorities: [10] },
  { channel: 'root.export', share: 0.1, priorities: [20] },
  { channel: 'root.misc', share: 0.15, priorities: [10, 15] },
];

export function buildScenario(total: number, seed: number): Scenario {
  if (!Number.isInteger(total) || total < MIN_JOBS) throw new Error(`--jobs must be at least ${MIN_JOBS}`);
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const between = ([low, high]: [number, number]) => Math.round(low + random() * (high - low));

  const chainLength = clamp(Math.round(total / 100), 3, 20);
  const throttled = clamp(Math.round(total / 400), 2, 5);
  const sequential = Math.max(5, Math.round(total * 0.04));
  const exhausted = clamp(Math.round(total / 1000), 1, 3);
  const general = total - chainLength - throttled - sequential - exhausted;
  const streamMs = clamp(total * 3, 1000, 6000);

  const specs: JobSpec[] = [];
  const add = (spec: Omit<JobSpec, 'index' | 'durationMs'>) =>
    specs.push({ ...spec, index: specs.length, durationMs: between(DURATIONS[spec.channel]!) });

  // Half of the general traffic is a backlog at start (a batch action), the rest streams in, ~10 % with an eta.
  for (let i = 0; i < general; i++) {
    const kind = weighted(random());
    const streamed = random() < 0.5;
    const arrivalMs = streamed ? Math.ceil((random() * streamMs) / STREAM_TICK_MS) * STREAM_TICK_MS : 0;
    const etaSeconds = random() < 0.1 ? pick([2, 3, 4, 5]) : null;
    add({
      role: 'general',
      channel: kind.channel,
      priority: pick(kind.priorities),
      etaSeconds,
      maxRetries: 5,
      fate: 'done',
      arrivalMs,
    });
  }
  // Failures and retries only hit general traffic: a failed job blocks a sequential channel for good,
  // and a failed chain link leaves its children waiting forever, as in upstream.
  const generalIndexes = specs.map((spec) => spec.index);
  shuffle(generalIndexes, random);
  const failing = Math.max(0, Math.round(total * 0.05) - exhausted);
  const retrying = Math.round(total * 0.03);
  for (const index of generalIndexes.slice(0, failing)) specs[index]!.fate = 'fail';
  for (const index of generalIndexes.slice(failing, failing + retrying)) specs[index]!.fate = 'retry';

  for (let i = 0; i < exhausted; i++) {
    add({
      role: 'general',
      channel: 'root.misc',
      priority: 10,
      etaSeconds: null,
      maxRetries: 2,
      fate: 'exhaust',
      arrivalMs: 0,
    });
  }
  for (let i = 0; i < sequential; i++) {
    add({
      role: 'sequential',
      channel: 'root.accounting',
      priority: 10,
      etaSeconds: null,
      maxRetries: 5,
      fate: 'done',
      arrivalMs: 0,
    });
  }
  for (let i = 0; i < throttled; i++) {
    add({
      role: 'throttled',
      channel: 'root.webhook',
      priority: 10,
      etaSeconds: null,
      maxRetries: 5,
      fate: 'done',
      arrivalMs: 0,
    });
  }
  for (let i = 0; i < chainLength; i++) {
    add({
      role: 'chain',
      channel: 'root.workflow',
      priority: 10,
      etaSeconds: null,
      maxRetries: 5,
      fate: 'done',
      arrivalMs: 0,
    });
  }

  return {
    seed,
    total,
    channels: DEMO_CHANNELS,
    specs,
    batches: batches(specs),
    streamMs,
    expectedFailures: specs.filter((spec) => spec.fate === 'fail' || spec.fate === 'exhaust').length,
    retryDelaySeconds: RETRY_DELAY_SECONDS,
  };
}

/** One INSERT per arrival time and kind of row; the chain is one graph, stored in one transaction. */
function batches(specs: readonly JobSpec[]): Batch[] {
  const byKey = new Map<string, Batch>();
  for (const spec of specs) {
    const kind = spec.role === 'chain' ? 'chain' : 'jobs';
    const key = `${spec.arrivalMs}/${kind}/${spec.etaSeconds}/${spec.maxRetries}`;
    let batch = byKey.get(key);
    if (!batch) {
      batch = {
        arrivalMs: spec.arrivalMs,
        kind,
        etaSeconds: spec.etaSeconds,
        maxRetries: spec.maxRetries,
        specs: [],
      };
      byKey.set(key, batch);
    }
    batch.specs.push(spec);
  }
  return [...byKey.values()].sort((a, b) => a.arrivalMs - b.arrivalMs);
}

function weighted(draw: number): (typeof GENERAL)[number] {
  let left = draw;
  for (const kind of GENERAL) {
    left -= kind.share;
    if (left < 0) return kind;
  }
  return GENERAL[GENERAL.length - 1]!;
}

function shuffle<T>(items: T[], random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}
