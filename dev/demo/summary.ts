// What the demo reports at the end, computed from what was recorded while it ran and from the rows.
import type pg from 'pg';
import { type ChannelTree, normalizeChannel } from '../../shared/channels.ts';
import type { TickSummary } from '../../shared/tick.ts';
import type { OdooStandin } from '../../test/support/odoo.ts';
import { type Distribution, distribution } from '../stats.ts';
import type { Committed } from './producer.ts';
import { type Attempt, lastBefore, type Recorder } from './recorder.ts';
import type { Scenario } from './scenario.ts';

export const PICKUP_METHOD =
  'runjob request arrival at the stand-in minus the moment the job became runnable: its INSERT commit ' +
  'returning to the producer, its eta (read from the row), its parent finishing (chain), or the new eta ' +
  'after a postponement; or later, if a channel it needs was full, the moment a job there ended and ' +
  'freed a slot (a job holds its slot from its claim, seen as its NOTIFY on a connection of ours, to ' +
  'its end). Clock: this process (runner, stand-in and producer share it). Throttled channel excluded.';
export const QUEUE_WAIT_METHOD =
  'the same without the free-slot rule: runnable → request, time spent waiting for capacity included.';

export type Cause = 'created' | 'eta' | 'released' | 'retry' | 'slot';

export interface DemoSummary {
  ok: boolean;
  interrupted: boolean;
  jobs: number;
  seed: number;
  channelsConfig: string;
  database: string;
  allTerminal: boolean;
  states: Record<string, number>;
  /** From the first commit to the last job becoming terminal. */
  runMs: number;
  throughput: number;
  pickupLatencyMs: Distribution & { method: string };
  /** The same, split by what made the job runnable (a free slot counts when it came last). */
  pickupByCause: Partial<Record<Cause, Distribution>>;
  pickupByChannel: Record<string, Distribution>;
  /** Where the pickup time goes: runnable → claim committed (the runner's reaction), claim → request. */
  pickupSplitMs: { toClaim: Distribution; claimToRequest: Distribution };
  queueWaitMs: Distribution & { method: string };
  channels: { name: string; capacity: number | null; peakRunning: number; withinCapacity: boolean }[];
  failures: { expected: number; actual: number; unexpected: number; missing: number };
  retries: { postponements: number; jobs: number };
  chain: { length: number; allDone: boolean; inOrder: boolean };
  sequential: { channel: string; jobs: number; inOrder: boolean; peakRunning: number };
  throttled: { channel: string; jobs: number; minGapMs: number | null };
  runner: {
    ticks: number;
    windowSeconds: number;
    passes: number;
    claimed: number;
    dispatched: number;
    reverted: number;
    outcomes: Record<string, number>;
    errors: string[];
  };
  standin: { requests: number; notTaken: number };
  /** This process runs the runner, the stand-in and the producer: a busy event loop delays them all. */
  eventLoopDelayMs: { p50: number; p99: number; max: number };
}

export interface SummaryInput {
  scenario: Scenario;
  committed: Map<string, Committed>;
  recorder: Recorder;
  odoo: OdooStandin;
  pool: pg.Pool;
  tree: ChannelTree;
  ticks: TickSummary[];
  windowSeconds: number;
  productionStart: number;
  interrupted: boolean;
  database: string;
  eventLoopDelayMs: DemoSummary['eventLoopDelayMs'];
  /** Requests sent to warm the stand-in's workers up before the run (not taken, not counted below). */
  warmUpRequests: number;
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

export async function summarize(input: SummaryInput): Promise<DemoSummary> {
  const { scenario, committed, recorder, odoo, pool, tree } = input;
  // Read-only: the final state of every job, and the chain's Odoo-recorded times.
  const { rows } = await pool.query<{
    uuid: string;
    state: string;
    started: number | null;
    done: number | null;
  }>(
    `SELECT uuid, state, extract(epoch FROM date_started) * 1000 AS started,
       extract(epoch FROM date_done) * 1000 AS done FROM queue_job`,
  );
  const rowByUuid = new Map(rows.map((row) => [row.uuid, row]));
  const states: Record<string, number> = {};
  for (const row of rows) states[row.state] = (states[row.state] ?? 0) + 1;
  const terminal = (states.done ?? 0) + (states.failed ?? 0);
  const allTerminal = rows.length === scenario.total && terminal === scenario.total;

  const taken = (uuid: string) => (recorder.attempts.get(uuid) ?? []).filter((a) => a.taken);
  const chain = [...committed.values()]
    .filter((job) => job.spec.role === 'chain')
    .sort((a, b) => a.spec.index - b.spec.index);
  const doneAt = (uuid: string): number | null =>
    taken(uuid).find((a) => a.finalState === 'done')?.finishedAt ?? null;

  // Pickup latency and queue wait, per try.
  recorder.resolveClaims((uuid) => {
    const job = committed.get(uuid);
    return job?.spec.role === 'chain' && chain[0] !== job ? 2 : 1;
  });
  const slots = recorder.slotsFreed(tree, (uuid) => committed.get(uuid)?.spec.channel);
  const pickup: number[] = [];
  const reaction: number[] = [];
  const dispatch: number[] = [];
  const wait: number[] = [];
  const byCause = new Map<Cause, number[]>();
  const byChannel = new Map<string, number[]>();
  let lastTerminalAt = input.productionStart;
  for (const job of committed.values()) {
    const attempts = taken(job.uuid);
    for (const attempt of attempts) {
      if (attempt.finalState === 'done' || attempt.finalState === 'failed')
        lastTerminalAt = Math.max(lastTerminalAt, attempt.finishedAt ?? 0);
    }
    if (job.spec.role === 'throttled') continue;
    const limits = tree.limits(job.spec.channel).filter((limit) => limit.capacity !== null);
    attempts.forEach((attempt: Attempt, k: number) => {
      const runnable = k === 0 ? firstRunnable(job, chain, doneAt) : attempts[k - 1]!.retryEta;
      if (runnable === null) return;
      // A slot that opened before this job's claim, in a channel it needs that was full.
      const slot = Math.max(...limits.map((limit) => lastBefore(slots.get(limit.name), attempt.claimAt)));
      const ready = Math.max(runnable, slot);
      const latency = Math.max(0, attempt.requestAt - ready);
      pickup.push(latency);
      reaction.push(Math.max(0, attempt.claimAt - ready));
      dispatch.push(attempt.requestAt - attempt.claimAt);
      wait.push(Math.max(0, attempt.requestAt - runnable));
      const cause: Cause =
        slot > runnable
          ? 'slot'
          : k > 0
            ? 'retry'
            : job.spec.role === 'chain' && chain[0] !== job
              ? 'released'
              : job.eta !== null && job.eta > job.committedAt
                ? 'eta'
                : 'created';
      byCause.set(cause, [...(byCause.get(cause) ?? []), latency]);
      const channel = normalizeChannel(job.spec.channel);
      byChannel.set(channel, [...(byChannel.get(channel) ?? []), latency]);
    });
  }

  const channels = [...tree.configured.values()].map((channel) => {
    const peak = odoo.peakRunning(channel.name);
    return {
      name: channel.name,
      capacity: channel.capacity,
      peakRunning: peak,
      withinCapacity: channel.capacity === null || peak <= channel.capacity,
    };
  });
  for (const name of new Set([...committed.values()].map((job) => normalizeChannel(job.spec.channel)))) {
    if (!tree.configured.has(name))
      channels.push({ name, capacity: null, peakRunning: odoo.peakRunning(name), withinCapacity: true });
  }

  const expectedFailed = new Set(
    [...committed.values()]
      .filter((job) => job.spec.fate === 'fail' || job.spec.fate === 'exhaust')
      .map((job) => job.uuid),
  );
  const failedUuids = rows.filter((row) => row.state === 'failed').map((row) => row.uuid);
  const unexpected = failedUuids.filter((uuid) => !expectedFailed.has(uuid)).length;
  const missing = [...expectedFailed].filter((uuid) => rowByUuid.get(uuid)?.state !== 'failed').length;

  let postponements = 0;
  let retriedJobs = 0;
  for (const job of committed.values()) {
    const n = taken(job.uuid).filter((a) => a.finalState === 'pending').length;
    postponements += n;
    if (n > 0) retriedJobs += 1;
  }

  // Chain: every link done, and each started (Odoo's date_started) after its parent was done.
  const chainRows = chain.map((job) => rowByUuid.get(job.uuid));
  const chainDone = chainRows.every((row) => row?.state === 'done');
  const chainInOrder =
    chainDone &&
    chainRows.every((row, i) => i === 0 || Number(row!.started) >= Number(chainRows[i - 1]!.done));

  // Sequential: one at a time, in creation order.
  const sequential = [...committed.values()]
    .filter((job) => job.spec.role === 'sequential')
    .sort((a, b) => a.spec.index - b.spec.index);
  const firstRequests = sequential.map((job) => taken(job.uuid)[0]?.requestAt ?? Number.NaN);
  const sequentialInOrder = firstRequests.every((at, i) => i === 0 || at > firstRequests[i - 1]!);
  const sequentialChannel = sequential[0] ? normalizeChannel(sequential[0].spec.channel) : '';

  const throttledJobs = [...committed.values()].filter((job) => job.spec.role === 'throttled');
  const departures = throttledJobs
    .map((job) => taken(job.uuid)[0]?.requestAt)
    .filter((at): at is number => at !== undefined)
    .sort((a, b) => a - b);
  const gaps = departures.slice(1).map((at, i) => at - departures[i]!);

  const totals = input.ticks.flatMap((tick) => tick.targets);
  const outcomes: Record<string, number> = {};
  for (const target of totals) {
    for (const [kind, n] of Object.entries(target.outcomes)) outcomes[kind] = (outcomes[kind] ?? 0) + n;
  }
  const counts = odoo.counts();
  const runMs = lastTerminalAt - input.productionStart;
  const channelsOk = channels.every((channel) => channel.withinCapacity);
  const summary: DemoSummary = {
    ok: false,
    interrupted: input.interrupted,
    jobs: scenario.total,
    seed: scenario.seed,
    channelsConfig: scenario.channels,
    database: input.database,
    allTerminal,
    states,
    runMs: Math.round(runMs),
    throughput: round(terminal / (runMs / 1000)),
    pickupLatencyMs: { ...distribution(pickup), method: PICKUP_METHOD },
    pickupByCause: Object.fromEntries([...byCause].map(([cause, values]) => [cause, distribution(values)])),
    pickupByChannel: Object.fromEntries(
      [...byChannel]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([channel, values]) => [channel, distribution(values)]),
    ),
    pickupSplitMs: { toClaim: distribution(reaction), claimToRequest: distribution(dispatch) },
    queueWaitMs: { ...distribution(wait), method: QUEUE_WAIT_METHOD },
    channels,
    failures: { expected: expectedFailed.size, actual: failedUuids.length, unexpected, missing },
    retries: { postponements, jobs: retriedJobs },
    chain: { length: chain.length, allDone: chainDone, inOrder: chainInOrder },
    sequential: {
      channel: sequentialChannel,
      jobs: sequential.length,
      inOrder: sequentialInOrder,
      peakRunning: odoo.peakRunning(sequentialChannel || 'root'),
    },
    throttled: {
      channel: throttledJobs[0] ? normalizeChannel(throttledJobs[0].spec.channel) : '',
      jobs: throttledJobs.length,
      minGapMs: gaps.length > 0 ? Math.round(Math.min(...gaps)) : null,
    },
    runner: {
      ticks: input.ticks.length,
      windowSeconds: input.windowSeconds,
      passes: sum(totals.map((t) => t.passes)),
      claimed: sum(totals.map((t) => t.claimed)),
      dispatched: sum(totals.map((t) => t.dispatched)),
      reverted: sum(totals.map((t) => t.reverted)),
      outcomes,
      errors: [...new Set(totals.flatMap((t) => t.errors))],
    },
    standin: {
      requests: counts.requests - input.warmUpRequests,
      notTaken: counts.notTaken - input.warmUpRequests,
    },
    eventLoopDelayMs: input.eventLoopDelayMs,
  };
  summary.ok =
    !input.interrupted &&
    allTerminal &&
    channelsOk &&
    unexpected === 0 &&
    missing === 0 &&
    chainInOrder &&
    sequentialInOrder;
  return summary;
}

/** When a job could first run: created (and committed), its eta reached, or its parent done. */
function firstRunnable(
  job: Committed,
  chain: readonly Committed[],
  doneAt: (uuid: string) => number | null,
): number | null {
  if (job.spec.role === 'chain') {
    const position = chain.indexOf(job);
    if (position > 0) return doneAt(chain[position - 1]!.uuid);
  }
  return Math.max(job.committedAt, job.eta ?? Number.NEGATIVE_INFINITY);
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

const ms = (value: number) => (Number.isNaN(value) ? '–' : `${value.toFixed(1)} ms`);

export function formatSummary(s: DemoSummary, elapsed: { setupMs: number; totalMs: number }): string[] {
  const lines: string[] = [];
  const yes = (ok: boolean) => (ok ? 'yes' : 'NO');
  lines.push('');
  lines.push(s.interrupted ? 'Summary (interrupted)' : 'Summary');
  lines.push(
    `  jobs        ${s.jobs} (seed ${s.seed}); all terminal: ${yes(s.allTerminal)} — ` +
      Object.entries(s.states)
        .map(([state, n]) => `${state} ${n}`)
        .join(', '),
  );
  lines.push(
    `  throughput  ${s.throughput} jobs/s (${s.jobs} jobs in ${(s.runMs / 1000).toFixed(1)} s from the first ` +
      'commit to the last job done; paced by arrivals, etas, retry delays and the throttle, not only the runner)',
  );
  const p = s.pickupLatencyMs;
  lines.push(
    `  pickup      p50 ${ms(p.p50)} · p95 ${ms(p.p95)} · p99 ${ms(p.p99)} · max ${ms(p.max)} (n=${p.n} tries)`,
  );
  lines.push(
    `              by cause: ${Object.entries(s.pickupByCause)
      .map(([cause, d]) => `${cause} p50 ${ms(d.p50)} p99 ${ms(d.p99)} (n=${d.n})`)
      .join(' · ')}`,
  );
  lines.push(
    `              by channel: ${Object.entries(s.pickupByChannel)
      .map(([channel, d]) => `${channel.replace(/^root\./, '')} p50 ${ms(d.p50)} p99 ${ms(d.p99)}`)
      .join(' · ')}`,
  );
  const split = s.pickupSplitMs;
  lines.push(
    `              split: runnable → claim committed p50 ${ms(split.toClaim.p50)} p99 ${ms(split.toClaim.p99)}` +
      ` · claim → request p50 ${ms(split.claimToRequest.p50)} p99 ${ms(split.claimToRequest.p99)}`,
  );
  lines.push(...wrap(`how: ${p.method}`, 96, '              '));
  const w = s.queueWaitMs;
  lines.push(
    `  queue wait  p50 ${ms(w.p50)} · p95 ${ms(w.p95)} · p99 ${ms(w.p99)} · max ${ms(w.max)} (n=${w.n})`,
  );
  lines.push(...wrap(`how: ${w.method}`, 96, '              '));
  lines.push('  peak running vs capacity (seen by the stand-in):');
  for (const channel of s.channels) {
    const cap = channel.capacity === null ? '— (inherits root)' : String(channel.capacity);
    lines.push(
      `              ${channel.name.padEnd(16)} ${String(channel.peakRunning).padStart(3)} / ${cap}${channel.withinCapacity ? '' : '  OVER CAPACITY'}`,
    );
  }
  lines.push(
    `  failures    expected ${s.failures.expected}, actual ${s.failures.actual}` +
      ` (unexpected ${s.failures.unexpected}, missing ${s.failures.missing}); ` +
      `${s.retries.postponements} postponements (RetryableJobError) on ${s.retries.jobs} jobs`,
  );
  lines.push(
    `  chain       ${s.chain.length} jobs released from wait_dependencies; all done: ${yes(s.chain.allDone)}, ` +
      `in order: ${yes(s.chain.inOrder)}`,
  );
  lines.push(
    `  sequential  ${s.sequential.channel}: ${s.sequential.jobs} jobs, in order: ${yes(s.sequential.inOrder)}, ` +
      `peak running ${s.sequential.peakRunning}`,
  );
  lines.push(
    `  throttled   ${s.throttled.channel}: ${s.throttled.jobs} jobs, shortest gap between two ` +
      `${s.throttled.minGapMs === null ? '–' : `${s.throttled.minGapMs} ms`}`,
  );
  const r = s.runner;
  lines.push(
    `  runner      ${r.ticks} ticks (tick() windows of ${r.windowSeconds} s), ${r.passes} passes, ${r.claimed} claimed, ` +
      `${r.dispatched} dispatched, ${r.reverted} reverted; outcomes ${Object.entries(r.outcomes)
        .filter(([, n]) => n > 0)
        .map(([kind, n]) => `${kind} ${n}`)
        .join(', ')}`,
  );
  if (r.errors.length > 0) lines.push(`  errors      ${r.errors.join(' | ')}`);
  lines.push(`  stand-in    ${s.standin.requests} requests, ${s.standin.notTaken} not taken`);
  const delay = s.eventLoopDelayMs;
  lines.push(
    `  event loop  delay p50 ${ms(delay.p50)} · p99 ${ms(delay.p99)} · max ${ms(delay.max)} ` +
      '(runner, stand-in and producer share this process and its loop)',
  );
  lines.push(`  database    ${s.database}`);
  lines.push(
    `  time        ${(elapsed.totalMs / 1000).toFixed(1)} s in all (setup ${(elapsed.setupMs / 1000).toFixed(1)} s)` +
      ` — ${s.ok ? 'OK' : 'NOT OK'}`,
  );
  return lines;
}

function wrap(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + word.length + 1 > width) {
      lines.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(indent + line);
  return lines;
}
