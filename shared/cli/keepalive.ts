/** `queue-job-runner keepalive [--json]`: ping Odoo's health URLs, report each one. */
import { keepalive } from '../keepalive.ts';
import { type Command, EXIT_FAILED, EXIT_OK, jsonOption, printJson } from './command.ts';
import { table } from './format.ts';

export const keepaliveCommand: Command = {
  name: 'keepalive',
  summary: "ping Odoo's /web/health (or KEEPALIVE_URLS) so its workers stay awake",
  help: `Usage: queue-job-runner keepalive [--json]

GETs every KEEPALIVE_URLS entry (default: each target's {odoo url}/web/health) at once, plus the
health URL of any target with a pending job due within 5 minutes, and reports status and latency.

Options:
  --json          print the report as JSON
  -h, --help      show this help

Exit status: 0 every URL answered 2xx, 1 one did not, 2 usage or configuration error.`,
  options: { ...jsonOption },
  async run(values, { config, log, out }) {
    const report = await keepalive(config, log);
    if (values.json) printJson(out, report);
    else {
      const rows = report.results.map((r) => [
        r.ok ? 'ok' : 'FAIL',
        r.status === null ? '-' : String(r.status),
        `${r.latencyMs} ms`,
        r.url,
        [r.target ? `target ${r.target}` : '', r.reason === 'due_soon' ? 'job due soon' : '', r.error ?? '']
          .filter(Boolean)
          .join('; '),
      ]);
      if (rows.length > 0) out(`${table([['', 'STATUS', 'LATENCY', 'URL', ''], ...rows])}\n`);
      for (const error of report.errors) out(`error: target ${error.target}: ${error.error}\n`);
      out(`keepalive: ${report.ok ? 'healthy' : 'UNHEALTHY'}\n`);
    }
    return report.ok ? EXIT_OK : EXIT_FAILED;
  },
};
