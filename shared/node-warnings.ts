/**
 * Node.js prints process warnings to stderr as plain text (`(node:1) Warning: …`), which Cloud Logging
 * takes for an unstructured error line. node-postgres emits one for `sslmode=require` in a connection
 * string. Entry points (the functions, the command) route them through the logger instead: one JSON
 * line, redacted, and for that one the setting that does what the operator meant.
 */
import type { Logger } from './log.ts';

const SSLMODE_ALIAS =
  /SSL modes 'prefer', 'require', and 'verify-ca' are treated as aliases for 'verify-full'/;

/** The log line for a process warning: its first line, or what to set for the sslmode one. */
export function describeWarning(warning: string | Error): string {
  const text = typeof warning === 'string' ? warning : warning.message;
  if (SSLMODE_ALIAS.test(text)) {
    return (
      'sslmode=require (or prefer, verify-ca) in a database URL makes node-postgres verify the server ' +
      'certificate as verify-full does; for encryption without verification (Cloud SQL by IP, a self-signed ' +
      'server) use sslmode=no-verify, or uselibpqcompat=true&sslmode=require (README, Configuration)'
    );
  }
  return text.split('\n')[0] ?? text;
}

let installed = false;

/** Replaces Node's plain-text warning output with a warning log line. Once per process. */
export function logProcessWarnings(log: () => Logger): void {
  if (installed) return;
  installed = true;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const type = typeof rest[0] === 'string' ? rest[0] : ((rest[0] as { type?: string })?.type ?? 'Warning');
    log().warning(describeWarning(warning), { event: 'process_warning', type });
  }) as typeof process.emitWarning;
}
