/**
 * How a tick shares itself among many targets (README, "Many databases"): TICK_TARGET_CONCURRENCY targets
 * at once, and no more connections to one database server than MAX_CONNECTIONS_PER_SERVER. A target is
 * counted at the most connections it may hold: its pool, plus the LISTEN connection of a window.
 *
 * A window needs its slot for its whole length (its LISTEN connection stays open). So windows are given
 * only when every chosen target fits at once; otherwise the tick serves each target one pass, a few at a
 * time, and says so: a target served late in a shortened window would wait longer than with no window.
 */
import type { Config, Target } from './config.ts';
import { DEFAULT_POOL_MAX } from './database.ts';

/** Connections of one target: its pool, plus the dedicated LISTEN connection when it has a window. */
export function connectionsPerTarget(windowSeconds: number): number {
  return DEFAULT_POOL_MAX + (windowSeconds > 0 ? 1 : 0);
}

/**
 * The database server a target connects to, as written in its URL (host:port; `localhost` and
 * `127.0.0.1` count as two). null = no database connection (a target reached through Odoo).
 */
export function serverOf(target: Pick<Target, 'reach'>): string | null {
  if (target.reach.via !== 'database') return null;
  try {
    const url = new URL(target.reach.databaseUrl);
    // A socket directory or a host in the query (?host=/var/run/postgresql) names the server there.
    const host = url.searchParams.get('host') ?? (url.hostname || 'localhost');
    return `${host}:${url.port || url.searchParams.get('port') || '5432'}`;
  } catch {
    return 'unparsable';
  }
}

/** Whether every target can be served at once within both limits, each holding `perTarget` connections. */
export function fitsAtOnce(
  targets: readonly Pick<Target, 'reach'>[],
  limits: Pick<Config, 'tickTargetConcurrency' | 'maxConnectionsPerServer'>,
  perTarget: number,
): boolean {
  if (targets.length > limits.tickTargetConcurrency) return false;
  const perServer = new Map<string, number>();
  for (const target of targets) {
    const server = serverOf(target);
    if (server === null) continue;
    const connections = (perServer.get(server) ?? 0) + perTarget;
    if (connections > limits.maxConnectionsPerServer) return false;
    perServer.set(server, connections);
  }
  return true;
}

/** The warning of a tick that gives up its windows because its targets do not fit at once. */
export function windowsDroppedMessage(count: number, config: Config, windowSeconds: number): string {
  return (
    `${count} targets do not fit at once (TICK_TARGET_CONCURRENCY=${config.tickTargetConcurrency}, ` +
    `MAX_CONNECTIONS_PER_SERVER=${config.maxConnectionsPerServer}, ${connectionsPerTarget(windowSeconds)} ` +
    `connections per target in a window): each target gets one pass this tick instead of a ${windowSeconds} s ` +
    'window; raise the limits or split the targets across scheduler jobs (README, "Many databases")'
  );
}
