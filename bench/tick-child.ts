// The runner as production runs it, alone in its process: load the configuration from the environment,
// run `--ticks` concurrent tick() calls with `--window` seconds, report timings, CPU and peak RSS as one
// JSON line on stdout. SIGTERM ends the window early (the tick's own abort path).
//   node bench/tick-child.ts --ticks 1 --window 0 --entry ts|dist|bundle|<shared dir> [--targets-file F]
// --targets-file: QUEUE_JOB_TARGETS read from a file (a list of 1,000 targets is over Linux's 128 KiB
// limit for one environment string).
// Imports only Node built-ins before the entry, so a cold start measures the runner's own modules.
// For a built entry, spawnRunner (common.ts) runs this file with its types stripped (bench/dist/
// tick-child.js): a .ts entry script makes Node load its TypeScript stripper, which production never
// does (an empty .ts script: +17 MB RSS and about +60 ms against the same script as .mjs, this machine).
import { readFileSync } from 'node:fs';
import { setSourceMapsSupport } from 'node:module';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';

// Profiling hook for V8 flags that NODE_OPTIONS refuses (e.g. BENCH_RUNNER_V8_FLAGS=--trace-gc; its
// lines go to stdout, which spawnRunner skips): applied before any runner module is loaded.
if (process.env.BENCH_RUNNER_V8_FLAGS) setFlagsFromString(process.env.BENCH_RUNNER_V8_FLAGS);

const now = () => performance.timeOrigin + performance.now();

const { values } = parseArgs({
  options: {
    ticks: { type: 'string', default: '1' },
    window: { type: 'string', default: '0' },
    entry: { type: 'string', default: 'ts' },
    'targets-file': { type: 'string' },
  },
});
// ts: the sources; dist: bench/dist; bundle: see loadBundle below; anything else: the `shared/` directory of another build (a baseline).
// Resolved from the bench directory, wherever this file runs from (bench/ or its stripped copy).
const benchDir = new URL(import.meta.url.endsWith('.ts') ? './' : '../', import.meta.url);
const base =
  values.entry === 'dist'
    ? new URL('dist/shared', benchDir).href
    : values.entry === 'ts'
      ? new URL('../shared', benchDir).href
      : pathToFileURL(values.entry).href;
const ext = values.entry === 'ts' ? 'ts' : 'js';

type TickModule = typeof import('../shared/tick.ts');
type ConfigModule = typeof import('../shared/config.ts');
type LogModule = typeof import('../shared/log.ts');

// bundle: bench/dist/bundle/runner.mjs (common.ts `bundleRunner`), with source maps on first, as
// functions/entry.ts does in production.
const [{ tick }, { loadConfig }, { createLogger }] = (
  values.entry === 'bundle'
    ? await loadBundle()
    : await Promise.all([
        import(`${base}/tick.${ext}`),
        import(`${base}/config.${ext}`),
        import(`${base}/log.${ext}`),
      ])
) as [TickModule, ConfigModule, LogModule];
const importedAt = now();

async function loadBundle() {
  setSourceMapsSupport(true);
  const bundle = await import(new URL('dist/bundle/runner.mjs', benchDir).href);
  return [bundle, bundle, bundle];
}

if (values['targets-file']) process.env.QUEUE_JOB_TARGETS = readFileSync(values['targets-file'], 'utf8');
const config = loadConfig(process.env);
const log = createLogger({ level: config.logLevel, write: (line) => process.stderr.write(`${line}\n`) });
const abort = new AbortController();
process.on('SIGTERM', () => abort.abort());

// Peak heap and off-heap memory, sampled: maxRSS says how much, these say where.
const peak = { heapUsed: 0, external: 0, arrayBuffers: 0, rss: 0, anonKb: 0, fileKb: 0 };

/** At the peak: the anonymous pages (heaps, malloc) and the mapped files (mostly the node binary). */
function residentSplit(): { anonKb: number; fileKb: number } {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    return { anonKb: kb('RssAnon'), fileKb: kb('RssFile') };
  } catch {
    return { anonKb: 0, fileKb: 0 }; // not Linux
  }
}
const sampler = setInterval(() => {
  const usage = process.memoryUsage();
  peak.heapUsed = Math.max(peak.heapUsed, usage.heapUsed);
  peak.external = Math.max(peak.external, usage.external);
  peak.arrayBuffers = Math.max(peak.arrayBuffers, usage.arrayBuffers);
  if (usage.rss > peak.rss) {
    peak.rss = usage.rss;
    Object.assign(peak, residentSplit());
  }
}, 50);
sampler.unref();

const tickStartAt = now();
process.stdout.write(`${JSON.stringify({ event: 'start', at: tickStartAt })}\n`);
const summaries = await Promise.all(
  Array.from({ length: Number(values.ticks) }, () =>
    tick(config, log, { windowSeconds: Number(values.window), signal: abort.signal }),
  ),
);
const tickDoneAt = now();
const cpu = process.cpuUsage();
process.stdout.write(
  `${JSON.stringify({
    event: 'result',
    processStart: performance.timeOrigin,
    importedAt,
    tickStartAt,
    tickDoneAt,
    ticks: summaries.map((summary) => ({
      passes: summary.targets.reduce((n, t) => n + t.passes, 0),
      claimed: summary.targets.reduce((n, t) => n + t.claimed, 0),
      dispatched: summary.targets.reduce((n, t) => n + t.dispatched, 0),
      ok: summary.ok,
      failing: summary.failing,
      errors: summary.targets.flatMap((t) => t.errors),
    })),
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    maxRssKb: process.resourceUsage().maxRSS,
    peakMb: {
      heapUsed: Math.round(peak.heapUsed / 2 ** 20),
      external: Math.round(peak.external / 2 ** 20),
      arrayBuffers: Math.round(peak.arrayBuffers / 2 ** 20),
      anon: Math.round(peak.anonKb / 1024),
      file: Math.round(peak.fileKb / 1024),
    },
  })}\n`,
);
process.exit(0);
