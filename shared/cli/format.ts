/** Small helpers for the CLI's human-readable output. */

/** Left-aligned columns, two spaces apart; the first row is the header. */
export function table(rows: readonly (readonly string[])[], indent = ''): string {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  }
  return rows
    .map((row) =>
      `${indent}${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}`.trimEnd(),
    )
    .join('\n');
}

export function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** An age in seconds as 45s, 12m, 3h, 2d. */
export function age(seconds: number | null): string {
  if (seconds === null) return '-';
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172_800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

/** "3 accepted, 1 failed" from a count record, zeros left out; "none" when all are zero. */
export function counts(record: Record<string, number | undefined>): string {
  const parts = Object.entries(record)
    .filter(([, n]) => (n ?? 0) > 0)
    .map(([kind, n]) => `${n} ${kind.replaceAll('_', ' ')}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}
