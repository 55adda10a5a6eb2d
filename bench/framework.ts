// (e) Start-up as Cloud Run and an operator see it, current build against the baseline build
// (`baselineBuild`), each run `RUNS` times after one unmeasured run:
// - functions-framework: spawn `functions-framework --target=status` on the package's `main` → the first
//   200 of GET /?format=prometheus (polled every 5 ms), i.e. modules loaded, server up, one status read;
// - CLI: spawn `queue-job-runner tick --window 0` (package.json `bin`: the bundle dist/bundle/cli.mjs, or
//   dist/shared/cli/main.js for a baseline from before it) with one pending job → exit. Its compile cache
//   (shared/cli/bin.ts) is warm after the unmeasured first run, as for a cron's every run but the first.
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { hiRes, median, sleep } from '../dev/stats.ts';
import { createJob } from '../test/support/jobs.ts';
import { startOdoo } from '../test/support/odoo.ts';
import {
  BASELINE_REVISION,
  type BenchContext,
  baselineBuild,
  type Figure,
  REPO_DIR,
  round,
} from './common.ts';

const RUNS = 9;
const FRAMEWORK = join(
  REPO_DIR,
  'node_modules',
  '@google-cloud',
  'functions-framework',
  'build',
  'src',
  'main.js',
);

export async function frameworkBench(ctx: BenchContext): Promise<Figure[]> {
  // The package's own build (dist/, package.json `main`: the bundle), as `npm run build` makes it.
  const tsc = join(REPO_DIR, 'node_modules', 'typescript', 'bin', 'tsc');
  await promisify(execFile)(process.execPath, [tsc, '-p', join(REPO_DIR, 'tsconfig.build.json')], {
    cwd: REPO_DIR,
  }).catch(() => {});
  const { scripts } = JSON.parse(readFileSync(join(REPO_DIR, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  if (scripts.bundle) {
    const PATH = [join(REPO_DIR, 'node_modules', '.bin'), dirname(process.execPath), process.env.PATH].join(
      delimiter,
    );
    await promisify(execFile)('sh', ['-c', scripts.bundle], { cwd: REPO_DIR, env: { ...process.env, PATH } });
  }
  const before = await baselineBuild(ctx);
  const builds: [string, string][] = [['current', REPO_DIR]];
  if (before !== null) builds.push([`baseline ${BASELINE_REVISION}`, join(before, '..', '..')]);
  const db = await ctx.database('bench_framework');
  const odoo = await startOdoo({ databases: { [db.name]: db.url }, workers: 4 });
  const env = {
    PATH: process.env.PATH ?? '',
    DATABASE_URL: db.url,
    ODOO_URL: odoo.url,
    ODOO_QUEUE_JOB_CHANNELS: 'root:4',
    RUNNER_ALLOW_UNAUTHENTICATED: 'true',
    LOG_LEVEL: 'error',
  };
  const figures: Figure[] = [];
  try {
    // Interleaved (run i of every build, then run i + 1): on a shared machine the load drifts within
    // seconds, and builds measured one after the other would be measured under different loads.
    const serve = builds.map((): number[] => []);
    const cli = builds.map((): number[] => []);
    for (let i = 0; i <= RUNS; i++) {
      for (const [index, [, dir]] of builds.entries()) {
        const first = await firstAnswer(dir, env, 18_000 + i);
        await createJob(db.pool, { channel: 'root' });
        const started = hiRes();
        await promisify(execFile)(process.execPath, [binOf(dir), 'tick', '--window', '0'], { env, cwd: dir });
        if (i > 0) {
          serve[index]!.push(first);
          cli[index]!.push(hiRes() - started);
        }
      }
    }
    for (const [index, [label]] of builds.entries()) {
      const serveMs = serve[index]!;
      const cliMs = cli[index]!;
      ctx.log(
        `${label}: functions-framework spawn → first 200 median ${round(median(serveMs))} ms; ` +
          `CLI one pass (tick --window 0) median ${round(median(cliMs))} ms`,
      );
      figures.push(
        {
          bench: 'framework',
          name: `functions-framework spawn → first 200 (status), ${label}`,
          value: round(median(serveMs)),
          unit: 'ms',
          target: { value: 300, kind: 'max' },
          note: `median of ${RUNS}, interleaved with the other build; runs ${serveMs.map((t) => round(t, 0)).join(', ')}`,
        },
        {
          bench: 'framework',
          name: `CLI one pass cold start (tick --window 0, 1 job), ${label}`,
          value: round(median(cliMs)),
          unit: 'ms',
          target: { value: 250, kind: 'max' },
          note: `median of ${RUNS}, interleaved with the other build; runs ${cliMs.map((t) => round(t, 0)).join(', ')}`,
        },
      );
    }
  } finally {
    await odoo.close();
    await db.close();
  }
  return figures;
}

/** The command as that build's package.json `bin` names it (the bundle now, tsc's output before). */
function binOf(dir: string): string {
  const { bin } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
  };
  return join(dir, bin['queue-job-runner']!);
}

/** Spawns the framework serving `status` from `dir` and times spawn → first 200; then stops it. */
async function firstAnswer(dir: string, env: Record<string, string>, port: number): Promise<number> {
  const started = hiRes();
  const child = spawn(process.execPath, [FRAMEWORK, '--target=status', `--port=${port}`, `--source=${dir}`], {
    env,
    cwd: dir,
    stdio: 'ignore',
  });
  try {
    for (;;) {
      if (hiRes() - started > 20_000) throw new Error(`functions-framework in ${dir} did not answer`);
      try {
        const response = await fetch(`http://127.0.0.1:${port}/?format=prometheus`);
        await response.arrayBuffer();
        if (response.status === 200) return hiRes() - started;
      } catch {
        // Not listening yet.
      }
      await sleep(5);
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}
