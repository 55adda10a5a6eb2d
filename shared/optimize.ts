/**
 * `optimize`: creates (or with `drop`, drops) the optional helper indexes on each target, CONCURRENTLY
 * so Odoo keeps writing meanwhile, and only when absent (present). The one DDL the runner ever runs,
 * and only on request (invariant 8). A failed CONCURRENTLY build leaves an invalid index behind: it is
 * dropped and built again. The runner's role must own queue_job for this; the error says so otherwise.
 */
import type { Config, Target } from './config.ts';
import { openPool } from './database.ts';
import { selectTargets } from './input.ts';
import type { Logger } from './log.ts';
import { errorMessage } from './redact.ts';
import * as sql from './sql.ts';

export type IndexAction = 'created' | 'rebuilt' | 'already_present' | 'dropped' | 'already_absent';

export interface OptimizeResult {
  target: string;
  ok: boolean;
  indexes: { name: string; action: IndexAction }[];
  error: string | null;
  durationMs: number;
}

export interface OptimizeReport {
  ok: boolean;
  drop: boolean;
  targets: OptimizeResult[];
}

async function optimizeTarget(target: Target, log: Logger, drop: boolean): Promise<OptimizeResult> {
  const started = Date.now();
  const result: OptimizeResult = { target: target.name, ok: true, indexes: [], error: null, durationMs: 0 };
  const tlog = log.child({ target: target.name, event: 'optimize' });
  if (target.reach.via !== 'database') {
    result.ok = false;
    result.error =
      'optimize needs a database connection (DATABASE_URL or databaseUrl): the bridge addon runs no DDL';
    tlog.error(result.error);
    return result;
  }
  // Outside any transaction (CONCURRENTLY refuses to run inside one), and without the pass's
  // statement timeout: an index build on a large table takes as long as it takes.
  const pool = openPool(target.reach.databaseUrl, 1);
  try {
    for (const index of sql.helperIndexes) {
      const { rows } = await pool.query<{ name: string; valid: boolean }>(sql.helperIndexesPresent.text, [
        [index.name],
      ]);
      const found = rows[0];
      let action: IndexAction;
      if (drop) {
        action = found ? 'dropped' : 'already_absent';
        if (found) await pool.query(index.drop);
      } else if (found?.valid) {
        action = 'already_present';
      } else {
        if (found) await pool.query(index.drop);
        await pool.query(index.create);
        action = found ? 'rebuilt' : 'created';
      }
      result.indexes.push({ name: index.name, action });
      tlog.info(`helper index ${index.name}: ${action.replace('_', ' ')}`, { index: index.name, action });
    }
  } catch (error) {
    result.ok = false;
    result.error = errorMessage(error);
    if ((error as { code?: string }).code === '42501') {
      result.error += ' (the database role must own queue_job to create or drop an index)';
    }
    tlog.error(`optimize failed: ${result.error}`);
  } finally {
    await pool.end().catch(() => {});
  }
  result.durationMs = Date.now() - started;
  return result;
}

/** Targets one after the other: index builds are heavy, and one database at a time is easier to watch. */
export async function optimize(
  config: Config,
  log: Logger,
  options: { drop?: boolean; targets?: readonly string[] } = {},
): Promise<OptimizeReport> {
  const drop = options.drop ?? false;
  const targets: OptimizeResult[] = [];
  for (const target of selectTargets(config, options.targets))
    targets.push(await optimizeTarget(target, log, drop));
  return { ok: targets.every((t) => t.ok), drop, targets };
}
