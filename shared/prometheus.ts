/**
 * The status report in Prometheus' text exposition format (version 0.0.4): every metric prefixed
 * `queue_job_`, labelled by target, channel and state, with HELP and TYPE lines. Gauges only: status is
 * a snapshot. A target whose database could not be read keeps its `queue_job_target_up` at 0 and has no
 * other sample, so an unreadable database never reads as "no jobs".
 *
 * Beside ours, the names upstream's jobrunner exposes (OCA/queue#976, jobrunner/metrics.py):
 * `queue_job_channel_{capacity,pending,running,failed,waiting_dependencies}` labelled channel, root,
 * leaf, and `queue_job_jobs_to_do`, so a dashboard built for upstream reads this runner too. Each also
 * carries `target` (upstream has one channel manager; we have one per target). Upstream's counters
 * (`queue_job_jobs_scheduled_total`, `queue_job_dead_jobs_requeued_total`) are not emitted: status is a
 * stateless snapshot and cannot count.
 */
import { STATUS_STATES, type StatusReport } from './status.ts';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = Record<string, string>;

interface Metric {
  name: string;
  help: string;
  samples: { labels: Labels; value: number }[];
}

function escapeLabel(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

function formatValue(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (Number.isNaN(value)) return 'NaN';
  return String(value);
}

function render(metrics: Metric[]): string {
  const lines: string[] = [];
  for (const metric of metrics) {
    lines.push(`# HELP ${metric.name} ${metric.help}`, `# TYPE ${metric.name} gauge`);
    for (const sample of metric.samples) {
      const labels = Object.entries(sample.labels)
        .map(([key, value]) => `${key}="${escapeLabel(value)}"`)
        .join(',');
      lines.push(`${metric.name}{${labels}} ${formatValue(sample.value)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

export function renderPrometheus(report: StatusReport): string {
  const metric = (name: string, help: string): Metric => ({ name: `queue_job_${name}`, help, samples: [] });
  const up = metric('target_up', 'Whether the target database could be read (1) or not (0).');
  const paused = metric('target_paused', 'Whether the runner is disabled for the target (channels root:0).');
  const upstream = metric(
    'upstream_runner',
    "Whether queue_job's built-in runner holds the database (1: nothing is dispatched).",
  );
  const signal = metric(
    'liveness_signal',
    'The liveness signal for started jobs (lock_table, connections or none), as a 1-valued label.',
  );
  const indexes = metric(
    'helper_indexes',
    'Whether the optional helper indexes (queue-job-runner optimize) exist and are valid.',
  );
  const jobs = metric(
    'jobs',
    'Jobs by state under their nearest configured channel (done and cancelled not counted).',
  );
  const running = metric('running', 'Jobs enqueued or started in the channel and its sub-channels.');
  const capacity = metric('capacity', 'Configured capacity of the channel (+Inf: unlimited).');
  const oldest = metric('oldest_pending_age_seconds', 'Age of the oldest pending job whose eta has come.');
  const nextEta = metric('next_eta_timestamp_seconds', 'Earliest future eta of a pending job, Unix time.');
  const dead = metric(
    'dead_candidates',
    'Jobs the next sweep would recover: enqueued too long, or started with a worker gone.',
  );
  const unjudged = metric('started_unjudged', 'Started jobs no liveness signal can judge (left alone).');
  // Upstream's names (OCA/queue#976).
  const upCapacity = metric('channel_capacity', 'Channel Capacity');
  const upPending = metric('channel_pending', 'Pending jobs in channel');
  const upRunning = metric('channel_running', 'Running jobs in channel');
  const upFailed = metric('channel_failed', 'Failed jobs in channel');
  const upWaiting = metric('channel_waiting_dependencies', 'Jobs waiting for dependencies in channel');
  const toDo = metric('jobs_to_do', 'Number of jobs waiting to be done (including running and failed jobs)');

  for (const target of report.targets) {
    const t = { target: target.target };
    up.samples.push({ labels: t, value: target.ok ? 1 : 0 });
    paused.samples.push({ labels: t, value: target.paused ? 1 : 0 });
    if (!target.ok) continue;
    upstream.samples.push({ labels: t, value: target.upstreamRunner ? 1 : 0 });
    if (target.liveness) signal.samples.push({ labels: { ...t, signal: target.liveness }, value: 1 });
    indexes.samples.push({ labels: t, value: target.helperIndexes ? 1 : 0 });
    unjudged.samples.push({ labels: t, value: target.deadCandidates.unjudged });
    let notDone = 0;
    for (const channel of target.channels) {
      const c = { ...t, channel: channel.channel };
      const u = { ...c, ...upstreamLabels(channel.channel, target.channels) };
      upCapacity.samples.push({ labels: u, value: channel.capacity ?? Number.POSITIVE_INFINITY });
      upPending.samples.push({ labels: u, value: channel.jobs.pending ?? 0 });
      upRunning.samples.push({ labels: u, value: channel.running });
      upFailed.samples.push({ labels: u, value: channel.jobs.failed ?? 0 });
      upWaiting.samples.push({ labels: u, value: channel.jobs.wait_dependencies ?? 0 });
      notDone += Object.values(channel.jobs).reduce((n, v) => n + v, 0);
      const states = [...new Set([...STATUS_STATES, ...Object.keys(channel.jobs)])];
      for (const state of states)
        jobs.samples.push({ labels: { ...c, state }, value: channel.jobs[state] ?? 0 });
      running.samples.push({ labels: c, value: channel.running });
      capacity.samples.push({ labels: c, value: channel.capacity ?? Number.POSITIVE_INFINITY });
      if (channel.oldestPendingAgeSeconds !== null)
        oldest.samples.push({ labels: c, value: channel.oldestPendingAgeSeconds });
      if (channel.nextEta !== null)
        nextEta.samples.push({ labels: c, value: Math.floor(Date.parse(channel.nextEta) / 1000) });
      dead.samples.push({ labels: { ...c, state: 'enqueued' }, value: channel.deadCandidates.enqueued });
      dead.samples.push({ labels: { ...c, state: 'started' }, value: channel.deadCandidates.started });
    }
    toDo.samples.push({ labels: t, value: notDone });
  }
  return render([
    up,
    paused,
    upstream,
    signal,
    indexes,
    jobs,
    running,
    capacity,
    oldest,
    nextEta,
    dead,
    unjudged,
    upCapacity,
    upPending,
    upRunning,
    upFailed,
    upWaiting,
    toDo,
  ]);
}

/**
 * Upstream's `root` and `leaf` labels, read as flags: whether the channel is root, and whether no other
 * shown channel is below it (so `sum(...{leaf="true"})` counts each job once, running counts being
 * hierarchical).
 */
function upstreamLabels(name: string, channels: readonly { channel: string }[]): Labels {
  const leaf = !channels.some(
    (other) => other.channel.startsWith(`${name}.`) || (name === 'root' && other.channel !== 'root'),
  );
  return { root: String(name === 'root'), leaf: String(leaf) };
}
