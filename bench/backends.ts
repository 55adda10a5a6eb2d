// PostgreSQL's CPU split by who asked for it: the backends serving one database, grouped by their
// application_name (the runner's `queue-job-runner`, the stand-in's `odoo-<pid>`), their CPU read from
// /proc while a run goes on. The throughput bench uses it to say how much of the database's work per
// job is the runner's and how much the Odoo side's, which no setting of the runner can change.
import pg from 'pg';
import { processStat } from './common.ts';

export interface BackendCpu {
  /** CPU seconds of the runner's backends (application_name `queue-job-runner`) during the run. */
  runner: number;
  /** CPU seconds of the stand-in's backends (`odoo-…`). */
  odoo: number;
  /** Backends seen, for the log line. */
  backends: number;
}

/**
 * Starts sampling every `intervalMs`. A backend already open at the start counts from its CPU then (the
 * stand-in's warm-up is not the run's); one opened later counts from zero. A backend that exits between
 * two samples loses at most one interval of its CPU.
 */
export async function sampleBackends(adminUrl: string, database: string, intervalMs = 200) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  const seen = new Map<number, { group: 'runner' | 'odoo' | 'other'; from: number; last: number }>();
  const sample = async (first: boolean) => {
    const { rows } = await client.query<{ pid: number; application_name: string }>(
      'SELECT pid, application_name FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [database],
    );
    for (const { pid, application_name: name } of rows) {
      const cpu = processStat(pid)?.cpuSeconds;
      if (cpu === undefined) continue;
      const known = seen.get(pid);
      if (known) known.last = cpu;
      else {
        const group = name === 'queue-job-runner' ? 'runner' : name.startsWith('odoo-') ? 'odoo' : 'other';
        seen.set(pid, { group, from: first ? cpu : 0, last: cpu });
      }
    }
  };
  await sample(true);
  let running = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(() => sample(false)).catch(() => {});
  }, intervalMs);
  return {
    async stop(): Promise<BackendCpu> {
      clearInterval(timer);
      await running;
      await sample(false).catch(() => {});
      await client.end();
      const total = { runner: 0, odoo: 0, backends: seen.size };
      for (const { group, from, last } of seen.values()) if (group !== 'other') total[group] += last - from;
      return total;
    },
  };
}
