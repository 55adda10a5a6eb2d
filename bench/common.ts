// What every benchmark needs: the PostgreSQL server (embedded, 127.0.0.1 only), fresh Odoo-shaped
// databases, the runner in a child process of its own (so its CPU and memory are its own), and the CPU
// time PostgreSQL spent.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createDatabase, createTemplate, type TestDatabase, uniqueDatabaseName } from '../test/support/db.ts';
import { type PostgresServer, startEmbeddedPostgres } from '../test/support/postgres.ts';
import { statementSettings } from './statements.ts';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO_DIR = dirname(BENCH_DIR);

/** One figure a benchmark measured, with its target when the issue sets one. */
export interface Figure {
  bench: string;
  name: string;
  value: number;
  unit: string;
  /** The target and which way it goes: `min` = at least, `max` = at most. */
  target?: { value: number; kind: 'min' | 'max' };
  note?: string;
}

export interface BenchContext {
  server: PostgresServer;
  /** A fresh database with Odoo 17's queue_job schema; closed (dropped) by the caller. */
  database(prefix: string, poolMax?: number): Promise<TestDatabase>;
  /** CPU seconds (user + system) PostgreSQL's processes have used so far. */
  postgresCpuSeconds(): number;
  log(line: string): void;
}

export async function startBenchServer(log: (line: string) => void): Promise<BenchContext> {
  // Test settings (fsync and synchronous_commit off): the figures are the runner's, not the disk's.
  const server = await startEmbeddedPostgres({ maxConnections: 400, settings: statementSettings });
  await createTemplate(server.adminUrl);
  const port = Number(new URL(server.adminUrl).port);
  const postmaster = findPostmaster(port);
  return {
    server,
    database: (prefix, poolMax = 10) =>
      createDatabase(server.adminUrl, uniqueDatabaseName(prefix), { poolMax }),
    postgresCpuSeconds: () => (postmaster === null ? Number.NaN : processTreeCpuSeconds(postmaster)),
    log,
  };
}

/** The postmaster listening on `port` (its command line says `-p <port>`). */
function findPostmaster(port: number): number | null {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const at = cmdline.indexOf('-p');
      if (cmdline[0]?.endsWith('postgres') && at >= 0 && cmdline[at + 1] === String(port))
        return Number(entry);
    } catch {
      // The process went away while we looked.
    }
  }
  return null;
}

/** A process's parent and its utime + stime in seconds, from /proc (Linux); null once it is gone. */
export function processStat(pid: number): { ppid: number; cpuSeconds: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: state ppid … utime(14) stime(15); USER_HZ is 100.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100 };
  } catch {
    return null;
  }
}

/** utime + stime of a process and its live children, in seconds. */
function processTreeCpuSeconds(root: number): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = processStat(Number(entry));
    if (stat && (Number(entry) === root || stat.ppid === root)) total += stat.cpuSeconds;
  }
  return total;
}

/** What the runner child (tick-child.ts) reports when it is done. */
export interface ChildResult {
  event: 'result';
  processStart: number;
  importedAt: number;
  tickStartAt: number;
  tickDoneAt: number;
  ticks: {
    passes: number;
    claimed: number;
    dispatched: number;
    ok: boolean;
    failing: string[];
    errors: string[];
  }[];
  cpuUserMs: number;
  cpuSystemMs: number;
  maxRssKb: number;
  /** Peaks sampled every 50 ms in the child, MB. */
  /** Sampled every 50 ms; anon and file: the resident split at the highest RSS sampled (Linux; else 0). */
  peakMb: { heapUsed: number; external: number; arrayBuffers: number; anon: number; file: number };
}

export interface RunnerChild {
  process: ChildProcess;
  /** Resolves with the tick start time (epoch ms) once the child has loaded and starts ticking. */
  started: Promise<number>;
  result: Promise<ChildResult>;
  stop(): void;
}

export interface RunnerChildOptions {
  env: Record<string, string>;
  ticks?: number;
  windowSeconds: number;
  /**
   * `ts`: the sources through Node's type stripping; `dist`: a tsc build (bench/dist); an absolute path:
   * the `shared/` directory of another build (`baselineBuild`).
   */
  entry?: string;
  /** QUEUE_JOB_TARGETS from this file (too long for one environment string). */
  targetsFile?: string;
}

/**
 * NODE_OPTIONS and MALLOC_ARENA_MAX of the tick function at its default 512Mi (terraform/functions.tf,
 * `node_options`, with the measurements): without an explicit heap maximum V8 sizes its old generation
 * from this machine's memory (24 GB), not the instance's.
 */
export const RUNNER_NODE_OPTIONS = '--max-semi-space-size=1 --v8-pool-size=1 --max-old-space-size=448';
export const RUNNER_MALLOC_ARENA_MAX = '2';

/**
 * tick-child.ts with its types stripped, as bench/dist/tick-child.js, for the runs of a built entry: so
 * the child's memory and start-up hold no TypeScript stripper, as in production (see tick-child.ts).
 */
function childScript(entry: string): string {
  const source = join(BENCH_DIR, 'tick-child.ts');
  if (entry === 'ts') return source;
  const stripped = join(BENCH_DIR, 'dist', 'tick-child.js');
  mkdirSync(dirname(stripped), { recursive: true });
  writeFileSync(stripped, stripTypeScriptTypes(readFileSync(source, 'utf8')));
  return stripped;
}

/** Starts `node bench/tick-child.ts`: one process running `ticks` concurrent tick() calls. */
export function spawnRunner(options: RunnerChildOptions): RunnerChild {
  const child = spawn(
    process.execPath,
    [
      childScript(options.entry ?? 'ts'),
      '--ticks',
      String(options.ticks ?? 1),
      '--window',
      String(options.windowSeconds),
      '--entry',
      options.entry ?? 'ts',
      ...(options.targetsFile ? ['--targets-file', options.targetsFile] : []),
    ],
    {
      env: {
        PATH: process.env.PATH ?? '',
        LOG_LEVEL: 'error',
        // The heap flags the tick function runs with (terraform/functions.tf), then the profiling hook:
        // BENCH_RUNNER_NODE_OPTIONS='--cpu-prof --cpu-prof-dir=/tmp/prof' npm run bench … (later flags win).
        NODE_OPTIONS: [RUNNER_NODE_OPTIONS, process.env.BENCH_RUNNER_NODE_OPTIONS].filter(Boolean).join(' '),
        MALLOC_ARENA_MAX: RUNNER_MALLOC_ARENA_MAX,
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout! });
  let onStart: (at: number) => void = () => {};
  const started = new Promise<number>((resolve) => {
    onStart = resolve;
  });
  const result = new Promise<ChildResult>((resolve, reject) => {
    lines.on('line', (line) => {
      let message: { event?: string; at?: number };
      try {
        message = JSON.parse(line) as { event?: string; at?: number };
      } catch {
        return; // the runner's own log lines go to stdout too; only ours are JSON with `event`
      }
      if (message.event === 'start') onStart(message.at!);
      if (message.event === 'result') resolve(message as ChildResult);
    });
    child.on('exit', (code) => reject(new Error(`runner child exited with ${code}: ${stderr}`)));
  });
  return { process: child, started, result, stop: () => child.kill('SIGTERM') };
}

let built: Promise<boolean> | null = null;

/**
 * tsc into bench/dist (ignored by git like every dist/), as `npm run build` does into dist/: the runner
 * as Cloud Run runs it. Once per bench run; false when nothing was emitted.
 */
export function buildOnce(ctx: BenchContext): Promise<boolean> {
  built ??= (async () => {
    const started = Date.now();
    const tsc = join(REPO_DIR, 'node_modules', 'typescript', 'bin', 'tsc');
    const outDir = join(BENCH_DIR, 'dist');
    try {
      await promisify(execFile)(
        process.execPath,
        [tsc, '-p', join(REPO_DIR, 'tsconfig.build.json'), '--outDir', outDir],
        { cwd: REPO_DIR },
      );
    } catch (error) {
      // Type errors (someone's work in progress) still emit; only a missing output matters here.
      ctx.log(`tsc reported errors (${String(error).split('\n')[0]}); using what it emitted`);
    }
    const ok = existsSync(join(outDir, 'shared', 'tick.js'));
    ctx.log(
      ok
        ? `built ${outDir} in ${((Date.now() - started) / 1000).toFixed(1)} s`
        : 'no build output: the runner child uses the .ts sources',
    );
    return ok;
  })();
  return built;
}

let bundled: Promise<boolean> | null = null;

/** The entry of the runner as deployed: its bundle (made once, on first ask), else the tsc build. */
export async function deployedEntry(ctx: BenchContext): Promise<'bundle' | 'dist' | 'ts'> {
  if (!(await buildOnce(ctx))) return 'ts';
  bundled ??= bundleRunner(ctx, join(BENCH_DIR, 'dist'));
  return (await bundled) ? 'bundle' : 'dist';
}

/**
 * bench/runner-entry.ts bundled into bench/dist/bundle/runner.mjs with the settings of package.json's
 * `bundle` script (esm, node platform and target, source maps, undici and pg loaded from node_modules
 * at run time by shared/lazy.ts): what the runner's memory is in production, where the deployed module is
 * the bundle (package.json `main`). It differs from the tsc build in what it loads of zod: 180 KB of it,
 * against the whole package (its locales too) that `import 'zod'` loads unbundled.
 */
async function bundleRunner(ctx: BenchContext, outDir: string): Promise<boolean> {
  try {
    const esbuild = await import('esbuild');
    await esbuild.build({
      entryPoints: [join(BENCH_DIR, 'runner-entry.ts')],
      outfile: join(outDir, 'bundle', 'runner.mjs'),
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node22.18',
      sourcemap: true,
      external: ['@google-cloud/functions-framework'],
      logLevel: 'warning',
    });
    return true;
  } catch (error) {
    ctx.log(`no bundle (${String(error).split('\n')[0]}): the runner child uses the tsc build`);
    return false;
  }
}

/**
 * The runner as it was before issue 12's work (or BENCH_BASELINE, any git revision), built with tsc into
 * a temporary directory: the same-run, same-machine baseline the issue's "≥ 2× today's" asks for.
 * Returns its compiled `shared/` directory, or null when the revision cannot be built.
 */
export const BASELINE_REVISION = process.env.BENCH_BASELINE ?? 'f4f4a12';
let baseline: Promise<string | null> | null = null;
export function baselineBuild(ctx: BenchContext): Promise<string | null> {
  baseline ??= (async () => {
    const run = promisify(execFile);
    try {
      const { stdout } = await run('git', ['rev-parse', '--short', BASELINE_REVISION], { cwd: REPO_DIR });
      const dir = join(tmpdir(), `qjr-bench-baseline-${stdout.trim()}`);
      if (!existsSync(join(dir, 'dist', 'shared', 'tick.js'))) {
        mkdirSync(dir, { recursive: true });
        await run('sh', ['-c', `git archive ${stdout.trim()} | tar -x -C ${dir}`], { cwd: REPO_DIR });
        if (!existsSync(join(dir, 'node_modules')))
          symlinkSync(join(REPO_DIR, 'node_modules'), join(dir, 'node_modules'));
        const tsc = join(REPO_DIR, 'node_modules', 'typescript', 'bin', 'tsc');
        await run(process.execPath, [tsc, '-p', join(dir, 'tsconfig.build.json')], { cwd: dir }).catch(
          () => {},
        );
      }
      const shared = join(dir, 'dist', 'shared');
      ctx.log(`baseline ${BASELINE_REVISION} (${stdout.trim()}) built in ${dir}`);
      return existsSync(join(shared, 'tick.js')) ? shared : null;
    } catch (error) {
      ctx.log(`no baseline (${String(error).split('\n')[0]})`);
      return null;
    }
  })();
  return baseline;
}

export function round(value: number, digits = 1): number {
  return Math.round(value * 10 ** digits) / 10 ** digits;
}
