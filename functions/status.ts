/**
 * `status` (GET, or POST as `gcloud functions call` sends it): per target and channel, as JSON (200, or 503 when a database could not be read), or
 * with `?format=prometheus` in Prometheus' text format (always 200: `queue_job_target_up` carries an
 * unreadable database, so one broken target does not blank a scrape). `?target=NAME` narrows it.
 */
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from '../shared/prometheus.ts';
import { collectStatus } from '../shared/status.ts';
import { endpoint, HttpError, queryParameter } from './http.ts';

export const statusFunction = endpoint('status', ['GET', 'POST'], async ({ req, config, log }) => {
  const format = queryParameter(req, 'format') ?? 'json';
  if (format !== 'json' && format !== 'prometheus') {
    throw new HttpError(400, 'format must be json or prometheus');
  }
  const target = queryParameter(req, 'target');
  const report = await collectStatus(config, log, { targets: target === undefined ? undefined : [target] });
  if (format === 'prometheus') {
    return { status: 200, text: renderPrometheus(report), contentType: PROMETHEUS_CONTENT_TYPE };
  }
  return { status: report.ok ? 200 : 503, json: report };
});
