/**
 * `queue-job-runner dispatch (--uuid U ... | --channel C [--limit N]) [--target T] [--ignore-capacity]`:
 * a manual run, validated by the same schema as the dispatch function's body.
 */

import { InputError } from '../input.ts';
import { type ManualResult, manualDispatch, parseManualRequest } from '../manual.ts';
import {
  type Command,
  EXIT_FAILED,
  EXIT_OK,
  flag,
  jsonOption,
  printJson,
  text,
  texts,
  UsageError,
} from './command.ts';
import { counts, duration, table } from './format.ts';

function detail(result: ManualResult): string {
  if (result.result === 'dispatched') return result.outcome ?? '';
  if (result.result === 'not_pending') return `state ${result.state}`;
  if (result.result === 'capacity_full' || result.result === 'blocked')
    return `${result.blockedBy}${result.reason && result.reason !== 'capacity' ? `: ${result.reason}` : ''}`;
  return [result.detail, result.reverted ? 'back to pending' : ''].filter(Boolean).join('; ');
}

export const dispatchCommand: Command = {
  name: 'dispatch',
  summary: "run named jobs, or a channel's due jobs, now",
  help: `Usage: queue-job-runner dispatch (--uuid UUID ... | --channel CHANNEL [--limit N])
                                [--target NAME] [--ignore-capacity] [--json]

Claims the jobs with the tick's guarded claim, under the channel rules (capacity, sequential,
throttle) unless --ignore-capacity, and sends them to Odoo. A named job runs even if its eta is in
the future; a channel run takes the channel's (and sub-channels') due jobs in queue order.

Options:
  --uuid UUID        a job to run (repeatable)
  --channel CHANNEL  run this channel's due jobs (e.g. root.nightly)
  --limit N          at most N jobs of the channel (default 1000)
  --target NAME      the target (required when several are configured)
  --ignore-capacity  claim without the channel rules (still never twice)
  --json             print the report as JSON
  -h, --help         show this help

Exit status: 0 every claimed job reached Odoo, 1 the run failed or was refused, or a named job
does not exist, 2 usage or configuration error (an unknown target included, and a channel that is
neither configured nor holds jobs).`,
  options: {
    uuid: { type: 'string', multiple: true },
    channel: { type: 'string' },
    limit: { type: 'string' },
    target: { type: 'string' },
    'ignore-capacity': { type: 'boolean', default: false },
    ...jsonOption,
  },
  check(values) {
    const uuids = texts(values, 'uuid');
    const channel = text(values, 'channel');
    if ((uuids === undefined) === (channel === undefined))
      throw new UsageError('give exactly one of --uuid or --channel');
    if (uuids && values.limit !== undefined) throw new UsageError('--limit applies to --channel runs only');
    const limit = text(values, 'limit');
    if (limit !== undefined && !/^\d+$/.test(limit))
      throw new UsageError(`--limit must be a whole number, got "${limit}"`);
    try {
      parseManualRequest(request(values));
    } catch (error) {
      if (error instanceof InputError) throw new UsageError(error.message);
      throw error;
    }
  },
  async run(values, { config, log, out }) {
    const report = await manualDispatch(config, log, parseManualRequest(request(values)));
    if (values.json) printJson(out, report);
    else {
      const rows = report.results.map((r) => [r.uuid, r.channel ?? '', r.result, detail(r)]);
      if (rows.length > 0) out(`${table([['UUID', 'CHANNEL', 'RESULT', ''], ...rows])}\n`);
      if (report.error) out(`error: ${report.error}\n`);
      out(
        `dispatch on ${report.target}: ${report.ok ? 'ok' : 'FAILED'}, ${counts(report.counts)} (${duration(report.durationMs)})\n`,
      );
    }
    // A named job that does not exist is a failed run: a script must not take it for done.
    const missing = report.results.some((result) => result.result === 'not_found');
    return report.ok && !missing ? EXIT_OK : EXIT_FAILED;
  },
};

/** The options as the dispatch function's request body. */
function request(values: Parameters<NonNullable<Command['check']>>[0]) {
  const limit = text(values, 'limit');
  return {
    ...(texts(values, 'uuid') ? { uuids: texts(values, 'uuid') } : {}),
    ...(text(values, 'channel') !== undefined ? { channel: text(values, 'channel') } : {}),
    ...(limit !== undefined ? { limit: Number(limit) } : {}),
    ...(text(values, 'target') !== undefined ? { target: text(values, 'target') } : {}),
    ...(flag(values, 'ignore-capacity') ? { ignoreCapacity: true } : {}),
  };
}
