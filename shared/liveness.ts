/**
 * Breaking the wait on started jobs no signal can judge (issue 11 item 1). Without upstream's lock
 * table, a started job is judged by its worker's `odoo-<pid>` connection, and only while some Odoo
 * connection to the database is visible at all. An Odoo that serves only job requests holds none after
 * a PostgreSQL restart, until its next request for that database; dead started jobs that fill the
 * capacity mean no request comes, and the queue stalls. So the runner makes one: a runjob GET for a
 * job that cannot exist makes Odoo select the database and run its controller's SELECT (a connection
 * under its own name), answers 200 and changes nothing (contract, "Verified against a real Odoo 17.0").
 * Then the sweep judges again. If Odoo answered and still no connection carries the pattern, the
 * pattern (ODOO_PGAPPNAME) is not Odoo's. Through the bridge the addon's own request is an Odoo
 * connection, so the signal is always there and no request is made; nothing here knows the transport.
 */
import type { Outcome, SettingNames } from './outcome.ts';

/** The job_uuid of that request: not a uuid4, so no queue_job row can carry it. */
export const PROBE_UUID = 'queue-job-runner-liveness-probe';

/** The most often one window asks Odoo to connect (each request is one warning line in Odoo's log). */
export const PROBE_EVERY_MS = 30_000;

/**
 * What an operator reads when started jobs stay unjudged after Odoo was asked to connect: which it is,
 * a wrong pattern or an Odoo that did not take the request, and the setting to check.
 */
export function unjudgedWarning(
  count: number,
  pgAppName: string,
  probe: Outcome | null,
  db: string | null,
  settings: SettingNames,
): string {
  const held =
    `${count} started job(s) hold capacity and cannot be judged: no connection to this database ` +
    `carries ODOO_PGAPPNAME '${pgAppName}'`;
  const alone = 'they are left alone until one does';
  if (probe === null) return `${held}; ${alone}`;
  switch (probe.kind) {
    case 'accepted':
      return (
        `${held}, although Odoo answered a request for database '${db}' (so it holds a connection to it, under ` +
        `another name): set ODOO_PGAPPNAME to Odoo's own application_name pattern (Odoo's ODOO_PGAPPNAME ` +
        `environment variable, default odoo-{pid}); ${alone}`
      );
    case 'failed':
    case 'not_selected':
      return `${held}, and Odoo answered ${probe.status} to a request for database '${db}' (it did not select it): check ${settings.db}; ${alone}`;
    case 'running':
      return `${held}, and Odoo did not answer a request for database '${db}' within DISPATCH_TIMEOUT_MS; ${alone}`;
    case 'unreachable':
    case 'lost':
      return `${held}, and Odoo could not be reached (${probe.error}); check ${settings.url} and that Odoo is up; ${alone}`;
    case 'unavailable':
      return `${held}, and a proxy answered ${probe.status} for Odoo (asleep or overloaded); ${alone}`;
    case 'misconfigured':
      return `${held}, and Odoo answered ${probe.status} to a request for database '${db}': check ${probe.setting}; ${alone}`;
    case 'unexpected':
      return `${held}, and Odoo answered ${probe.status}, which /queue_job/runjob never does: check ${settings.url}; ${alone}`;
  }
}
