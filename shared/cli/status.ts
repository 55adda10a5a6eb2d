/** `queue-job-runner status [--json | --prometheus] [--target T ...]`: what each target looks like now. */
import { renderPrometheus } from '../prometheus.ts';
import { type ChannelStatus, collectStatus, STATUS_STATES, type TargetStatus } from '../status.ts';
import {
  type Command,
  EXIT_FAILED,
  EXIT_OK,
  flag,
  jsonOption,
  printJson,
  targetOption,
  texts,
  UsageError,
} from './command.ts';
import { age, table } from './format.ts';

const SHORT: Record<string, string> = {
  wait_dependencies: 'WAITING',
  pending: 'PENDING',
  enqueued: 'ENQUEUED',
  started: 'STARTED',
  failed: 'FAILED',
};

function channelRow(channel: ChannelStatus): string[] {
  const capacity = channel.capacity === null ? 'unlimited' : String(channel.capacity);
  const rules = [
    channel.paused ? 'PAUSED' : '',
    channel.sequential ? 'sequential' : '',
    channel.throttle ? `throttle ${channel.throttle}s` : '',
    channel.capacityDefault !== undefined
      ? `sub-channels ${channel.capacityDefault === null ? 'unlimited' : channel.capacityDefault}`
      : '',
    channel.sequentialDefault ? 'sub-channels sequential' : '',
  ]
    .filter(Boolean)
    .join(', ');
  const dead = channel.deadCandidates.enqueued + channel.deadCandidates.started;
  return [
    channel.channel,
    `${channel.running}/${capacity}${rules ? ` (${rules})` : ''}`,
    ...STATUS_STATES.map((state) => String(channel.jobs[state] ?? 0)),
    age(channel.oldestPendingAgeSeconds),
    channel.nextEta ?? '-',
    String(dead),
    channel.rawChannels.filter((name) => name !== channel.channel).join(' '),
  ];
}

function describe(target: TargetStatus): string {
  if (!target.ok) return `${target.target} (${target.database}): ERROR ${target.error}`;
  const facts = [
    `liveness: ${target.liveness}`,
    `upstream runner: ${target.upstreamRunner ? 'ACTIVE (nothing is dispatched)' : 'no'}`,
    `helper indexes: ${target.helperIndexes ? 'yes' : 'no'}`,
    ...(target.paused ? ['PAUSED (root:0)'] : []),
  ];
  const dead = target.deadCandidates;
  const caps = target.capabilities;
  const probe = caps
    ? [
        `  queue_job ${caps.queueJobVersion ?? '?'} (${caps.queueJobState ?? 'not installed'}), series ${caps.series ?? '?'}, ` +
          `lock table: ${caps.lockTable ?? 'none'}, advisory lock: ${caps.advisoryLock ? 'held' : 'free'}`,
        ...(caps.refused ? [`  REFUSED: ${caps.refused}`] : []),
        ...(caps.skipped ? [`  SKIPPED: ${caps.skipped}`] : []),
      ]
    : [];
  const lines = [
    `${target.target} (${target.database}) ${facts.join(', ')}`,
    ...probe,
    table(
      [
        [
          'CHANNEL',
          'RUNNING/CAPACITY',
          ...STATUS_STATES.map((s) => SHORT[s]!),
          'OLDEST',
          'NEXT ETA',
          'DEAD',
          'ALSO',
        ],
        ...target.channels.map(channelRow),
      ],
      '  ',
    ),
    `  dead-job candidates: ${dead.enqueued} enqueued, ${dead.started} started` +
      (target.liveness === 'none' ? `; ${dead.unjudged} started job(s) no liveness signal can judge` : ''),
    ...target.warnings.map((warning) => `  warning: ${warning}`),
  ];
  return lines.join('\n');
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'per target and channel: jobs by state, running vs capacity, oldest pending, next eta',
  help: `Usage: queue-job-runner status [--json | --prometheus] [--target NAME ...]

Reads each target (read-only): per configured channel, jobs by state (raw channels counted under
their nearest configured channel), running vs capacity, the oldest due pending job's age, the next
eta, dead-job candidates; whether upstream's runner holds the database; the liveness signal; what
the capability probe read (queue_job version and series, lock table, advisory lock) and whether the
tick refuses or skips the target.

Options:
  --json          print the report as JSON
  --prometheus    print Prometheus text exposition (metrics queue_job_*)
  --target NAME   only this target (repeatable)
  -h, --help      show this help

Exit status: 0 every database was read, 1 one could not be, 2 usage or configuration error.`,
  options: { prometheus: { type: 'boolean', default: false }, ...targetOption, ...jsonOption },
  check(values) {
    if (flag(values, 'json') && flag(values, 'prometheus'))
      throw new UsageError('give --json or --prometheus, not both');
  },
  async run(values, { config, log, out }) {
    const report = await collectStatus(config, log, { targets: texts(values, 'target') });
    if (flag(values, 'json')) printJson(out, report);
    else if (flag(values, 'prometheus')) out(renderPrometheus(report));
    else out(`${report.targets.map(describe).join('\n\n')}\n`);
    return report.ok ? EXIT_OK : EXIT_FAILED;
  },
};
