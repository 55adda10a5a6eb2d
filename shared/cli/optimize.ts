/** `queue-job-runner optimize [--drop] [--target T ...]`: the optional helper indexes, per target. */
import { optimize } from '../optimize.ts';
import {
  type Command,
  EXIT_FAILED,
  EXIT_OK,
  flag,
  jsonOption,
  printJson,
  targetOption,
  texts,
} from './command.ts';
import { duration } from './format.ts';

export const optimizeCommand: Command = {
  name: 'optimize',
  summary: 'create (or --drop) the optional helper indexes that make passes cheaper on big tables',
  help: `Usage: queue-job-runner optimize [--drop] [--target NAME ...] [--json]

Creates the runner's optional partial indexes on queue_job with CREATE INDEX CONCURRENTLY (Odoo keeps
working meanwhile), only where absent; with --drop, drops them CONCURRENTLY, only where present. An
invalid index left by an interrupted build is rebuilt. The database role must own queue_job.

Options:
  --drop          drop the helper indexes instead
  --target NAME   only this target (repeatable; default every target)
  --json          print the report as JSON
  -h, --help      show this help

Exit status: 0 done on every target, 1 it failed on one, 2 usage or configuration error.`,
  options: { drop: { type: 'boolean', default: false }, ...targetOption, ...jsonOption },
  async run(values, { config, log, out }) {
    const report = await optimize(config, log, {
      drop: flag(values, 'drop'),
      targets: texts(values, 'target'),
    });
    if (flag(values, 'json')) printJson(out, report);
    else {
      for (const target of report.targets) {
        const done = target.indexes.map((index) => `${index.name} ${index.action.replaceAll('_', ' ')}`);
        const error = target.error ? `FAILED: ${target.error}` : '';
        out(
          `${target.target}: ${[...done, error].filter(Boolean).join(', ')} (${duration(target.durationMs)})\n`,
        );
      }
    }
    return report.ok ? EXIT_OK : EXIT_FAILED;
  },
};
