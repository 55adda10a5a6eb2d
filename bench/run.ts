// `npm run bench [-- name…]`: runs the benchmarks (all, or the ones named), prints each figure next to
// its target with the ratio, and writes bench/results.json. Not part of CI or `npm test`: figures
// depend on the machine, and nothing here fails on a time.
//   names: throughput, latency, pass, coldstart, bridge, fleet, gap, framework
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { stopPostgres } from '../test/support/postgres.ts';
import { bridgeBench } from './bridge.ts';
import { coldStartBench } from './coldstart.ts';
import { BENCH_DIR, type BenchContext, type Figure, startBenchServer } from './common.ts';
import { fleetBench } from './fleet.ts';
import { frameworkBench } from './framework.ts';
import { gapBench } from './gap.ts';
import { latencyBench } from './latency.ts';
import { passBench } from './pass.ts';
import { throughputBench } from './throughput.ts';

const BENCHES: Record<string, (ctx: BenchContext) => Promise<Figure[]>> = {
  throughput: throughputBench,
  latency: latencyBench,
  pass: passBench,
  coldstart: coldStartBench,
  bridge: bridgeBench,
  fleet: fleetBench,
  gap: gapBench,
  framework: frameworkBench,
};

interface Results {
  machine: Record<string, string | number>;
  benches: Record<
    string,
    {
      date: string;
      /** 1-minute load average before and after: the machine may be shared, and figures move with it. */
      loadAverage1m: { before: number; after: number };
      figures: (Figure & { ratio?: number; meets?: boolean })[];
    }
  >;
}

function ratio(figure: Figure): string {
  if (!figure.target) return '';
  return (figure.value / figure.target.value).toFixed(2);
}

function meets(figure: Figure): string {
  if (!figure.target) return '';
  const ok =
    figure.target.kind === 'min' ? figure.value >= figure.target.value : figure.value <= figure.target.value;
  return ok ? 'yes' : 'NO';
}

function table(figures: Figure[]): string[] {
  const rows = [
    ['figure', 'value', 'target', 'ratio', 'meets'],
    ...figures.map((f) => [
      f.name,
      `${f.value} ${f.unit}`,
      f.target ? `${f.target.kind === 'min' ? '≥' : '≤'} ${f.target.value} ${f.unit}` : '',
      ratio(f),
      meets(f),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
}

async function main(names: string[]): Promise<number> {
  const unknown = names.filter((name) => !(name in BENCHES));
  if (unknown.length > 0) {
    console.error(`unknown benchmark ${unknown.join(', ')}; choose from ${Object.keys(BENCHES).join(', ')}`);
    return 2;
  }
  const chosen = names.length > 0 ? names : Object.keys(BENCHES);
  const log = (line: string) => console.log(`  ${line}`);
  console.log('Starting embedded PostgreSQL (fsync and synchronous_commit off, as in the tests)…');
  const ctx = await startBenchServer(log);
  const version = await serverVersion(ctx.server.adminUrl);
  console.log(
    `${ctx.server.description}; ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}`,
  );
  const figures: Figure[] = [];
  const load = new Map<string, { before: number; after: number }>();
  const dates = new Map<string, string>();
  try {
    for (const name of chosen) {
      const started = Date.now();
      const before = loadavg()[0] ?? 0;
      dates.set(name, new Date().toISOString());
      console.log(`\n[${name}]`);
      figures.push(...(await BENCHES[name]!(ctx)));
      load.set(name, { before, after: loadavg()[0] ?? 0 });
      ctx.log(`load average (1 min) ${before.toFixed(2)} before, ${load.get(name)!.after.toFixed(2)} after`);
      console.log(`  (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    }
  } finally {
    await stopPostgres(ctx.server);
  }
  console.log('');
  for (const line of table(figures)) console.log(line);
  const notes = figures.filter((f) => f.note);
  if (notes.length > 0) {
    console.log('\nnotes:');
    for (const f of notes) console.log(`  ${f.name}: ${f.note}`);
  }
  // Figures of the benchmarks not run this time are kept from the previous results.
  const file = join(BENCH_DIR, 'results.json');
  const previous = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Results) : null;
  // An older file (another layout) is started afresh rather than merged.
  const kept = previous?.benches;
  const benches: Results['benches'] = kept && typeof kept === 'object' && !Array.isArray(kept) ? kept : {};
  for (const name of chosen) {
    benches[name] = {
      date: dates.get(name)!,
      loadAverage1m: load.get(name)!,
      figures: figures
        .filter((f) => f.bench === name)
        .map((f) => ({
          ...f,
          ratio: f.target ? Number(ratio(f)) : undefined,
          meets: f.target ? meets(f) === 'yes' : undefined,
        })),
    };
  }
  const results: Results = {
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model ?? '?',
      memoryMb: Math.round(totalmem() / 2 ** 20),
      node: process.version,
      postgres: version,
      postgresSettings: 'embedded; fsync=off, synchronous_commit=off, full_page_writes=off',
    },
    benches,
  };
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwrote ${file}`);
  return 0;
}

async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return rows[0]?.server_version ?? '?';
  } finally {
    await client.end();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
