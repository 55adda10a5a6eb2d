/**
 * `dispatch` (POST, JSON): a manual run, `{target?, uuids?, channel?, limit?, ignoreCapacity?}` with
 * exactly one of uuids and channel, through the tick's claim and dispatch path (shared/manual.ts).
 * 200 when every claimed job reached Odoo; 409 when the target refuses manual runs (paused, upstream
 * runner active); 503 when the database or Odoo failed. Bad input is 400/413/415, an unknown target 404.
 */
import { manualDispatch, parseManualRequest } from '../shared/manual.ts';
import { endpoint, jsonBody } from './http.ts';

export const dispatchFunction = endpoint('dispatch', ['POST'], async ({ req, config, log }) => {
  const request = parseManualRequest(jsonBody(req));
  const scheduleTime = req.get('X-CloudScheduler-ScheduleTime');
  const report = await manualDispatch(config, scheduleTime ? log.child({ scheduleTime }) : log, request);
  const status = report.ok ? 200 : report.refused ? 409 : 503;
  return { status, json: report };
});
