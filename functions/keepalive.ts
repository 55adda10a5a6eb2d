/**
 * `keepalive` (Cloud Scheduler): pings Odoo so its workers stay awake and warm before due jobs; 200
 * when every URL answered 2xx in time, 503 otherwise, with a report per URL (status, latency).
 */
import { keepalive } from '../shared/keepalive.ts';
import { endpoint } from './http.ts';

export const keepaliveFunction = endpoint('keepalive', ['GET', 'POST'], async ({ config, log }) => {
  const report = await keepalive(config, log);
  return { status: report.ok ? 200 : 503, json: report };
});
