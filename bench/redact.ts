// `node bench/redact.ts [module]`: the cost of redaction as the number of registered secrets grows.
// For N targets, each target's URL and password are registered (as the runner does at start-up), then
// a tick's worth of output is redacted: one log line and one status entry per target (a few hundred
// characters each, names and an error message), plus Prometheus text for all of them. Prints ms per
// run and µs per string for N = 1, 1 000, 10 000. Pass another module (e.g. an older shared/redact.ts
// copied to /tmp) to compare. Not a test: nothing fails on a time.
import { pathToFileURL } from 'node:url';

interface Redaction {
  registerSecrets(values: Iterable<string>): void;
  registerNames?(values: Iterable<string>): void;
  resetRedaction?(): void;
  redactValue<T>(value: T): T;
  redact(text: string): string;
}

const modulePath = process.argv[2] ?? new URL('../shared/redact.ts', import.meta.url).pathname;
const redaction = (await import(pathToFileURL(modulePath).href)) as Redaction;

function tickOutput(targets: number): { lines: Record<string, unknown>[]; prometheus: string } {
  const lines: Record<string, unknown>[] = [];
  const metrics: string[] = [];
  for (let i = 0; i < targets; i++) {
    lines.push({
      severity: 'WARNING',
      message: `target t${i}: connect ECONNREFUSED 10.0.${i % 250}.${i % 200}:5432 (database odoo_${i})`,
      target: `t${i}`,
      channel: 'root.mail',
      outcome: 'refused',
      time: new Date(0).toISOString(),
    });
    metrics.push(`queue_job_jobs{target="t${i}",channel="root",state="pending"} ${i}`);
  }
  return { lines, prometheus: metrics.join('\n') };
}

for (const targets of [1, 1_000, 10_000]) {
  redaction.resetRedaction?.();
  const secrets: string[] = [];
  const names: string[] = [];
  for (let i = 0; i < targets; i++) {
    secrets.push(`postgres://odoo:Pw-${i}-Zq8x@db-${i % 7}.internal:5432/odoo_${i}`, `Pw-${i}-Zq8x`);
    names.push(`t${i}`, `odoo_${i}`, 'root', 'root.mail');
  }
  const sample = tickOutput(targets);
  const started = performance.now();
  redaction.registerSecrets(secrets);
  redaction.registerNames?.(names);
  const built = performance.now();
  let strings = 0;
  for (const line of sample.lines) {
    redaction.redactValue(line);
    strings += Object.keys(line).length;
  }
  redaction.redact(sample.prometheus);
  strings += 1;
  const done = performance.now();
  const run = done - built;
  console.log(
    `${String(targets).padStart(6)} targets (${secrets.length} secrets): register ${(built - started).toFixed(1)} ms, ` +
      `redact a tick's output ${run.toFixed(1)} ms (${((run * 1000) / strings).toFixed(2)} µs per string), ` +
      `rss ${(process.memoryUsage().rss / 1048576).toFixed(0)} MB`,
  );
}
