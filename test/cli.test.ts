// The BUILT `queue-job-runner` command, run as a child process with its environment, against real
// PostgreSQL and the Odoo stand-in: every command, human and JSON output, help, and exit statuses.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { CLI, cli, ensureBuilt } from './support/cli.ts';
import { createDatabase, setWebBaseUrl, type TestDatabase } from './support/db.ts';
import { createJob, createJobs, getJob, jobStates, stateCounts } from './support/jobs.ts';
import { type OdooStandin, startOdoo } from './support/odoo.ts';

let db: TestDatabase;
let odoo: OdooStandin;
let env: Record<string, string>;

beforeAll(async () => {
  await ensureBuilt();
  db = await createDatabase(inject('adminDatabaseUrl'));
  odoo = await startOdoo({ databases: { [db.name]: db.url } });
  await setWebBaseUrl(db.pool, odoo.url);
  env = { DATABASE_URL: db.url, ODOO_QUEUE_JOB_CHANNELS: 'root:4' };
});

afterAll(async () => {
  await odoo?.close();
  await db?.close();
});

beforeEach(async () => {
  await db.pool.query('DELETE FROM queue_job');
  odoo.configure({ durationMs: 0, auth: undefined, outcome: undefined });
});

/** Every stderr line is a JSON log line with severity and message. */
function expectJsonLogs(stderr: string): void {
  for (const line of stderr.trim().split('\n').filter(Boolean)) {
    const entry = JSON.parse(line) as Record<string, unknown>;
    expect(entry).toEqual(
      expect.objectContaining({ severity: expect.any(String), message: expect.any(String) }),
    );
  }
}

describe('help and usage', () => {
  it('prints the overall help and each command help, exit 0', async () => {
    const commands = ['tick', 'keepalive', 'dispatch', 'status', 'optimize'];
    // All at once, as the bad-usage runs: eight Node start-ups in a row are slow on a loaded machine.
    const [overall, each] = await Promise.all([
      Promise.all([['--help'], ['-h'], ['help']].map((args) => cli(args))),
      Promise.all(commands.map((name) => cli([name, '--help']))),
    ]);
    for (const run of overall) {
      expect(run.code).toBe(0);
      for (const name of commands) expect(run.stdout).toContain(`  ${name} `);
    }
    commands.forEach((name, index) => {
      const run = each[index]!;
      expect(run.code, name).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`^Usage: queue-job-runner ${name}`));
      expect(run.stdout).toContain('Exit status:');
    });
  }, 120_000);

  it('exits 2 on bad usage, saying what is wrong', async () => {
    const cases: [string[], RegExp][] = [
      [[], /Usage: queue-job-runner <command>/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['status', '--bogus'], /Unknown option '--bogus'/],
      [['tick', '--window', 'abc'], /--window must be a whole number/],
      [['tick', 'extra'], /positional/i],
      [['dispatch'], /exactly one of --uuid or --channel/],
      [['dispatch', '--uuid', 'a', '--channel', 'root'], /exactly one of --uuid or --channel/],
      [['dispatch', '--uuid', 'a', '--limit', '3'], /--limit applies to --channel runs only/],
      [['dispatch', '--channel', 'root', '--limit', '0'], /limit/],
      [['status', '--json', '--prometheus'], /--json or --prometheus/],
    ];
    // All at once: ten Node start-ups one after the other outlast the test timeout on a loaded machine.
    const runs = await Promise.all(cases.map(([args]) => cli(args, env)));
    cases.forEach(([args, message], index) => {
      const run = runs[index]!;
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toMatch(message);
      expect(run.stdout).toBe('');
    });
  }, 120_000);

  it("node-postgres' sslmode=require warning is a JSON log line naming the setting that works", async () => {
    const url = new URL(db.url);
    url.searchParams.set('sslmode', 'require');
    const run = await cli(['status', '--json'], { ...env, DATABASE_URL: url.toString() });
    expectJsonLogs(run.stderr);
    const warning = run.logs.find((entry) => entry.event === 'process_warning');
    expect(warning?.message).toMatch(/sslmode=no-verify, or uselibpqcompat=true&sslmode=require/);
  });

  it('--version prints the release of package.json', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    for (const flag of ['--version', '-V']) {
      const run = await cli([flag]);
      expect(run.code, flag).toBe(0);
      expect(run.stdout).toBe(`queue-job-runner ${version}\n`);
    }
  });

  it('warns at start about settings that read differently, naming them', async () => {
    const run = await cli(['status', '--json'], { ...env, ODOO_QUEUE_JOB_CHANNELS: 'root.a:2,root:0' });
    expect(run.code).toBe(0);
    expect(run.logs).toContainEqual(
      expect.objectContaining({
        severity: 'WARNING',
        event: 'setting_warning',
        setting: 'ODOO_QUEUE_JOB_CHANNELS',
      }),
    );
  });

  it('dispatch: an unknown uuid exits 1, a channel neither configured nor holding jobs exits 2', async () => {
    const missing = await cli(['dispatch', '--uuid', 'no-such-job'], env);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/no-such-job\s+not_found/);
    const typo = await cli(['dispatch', '--channel', 'root.nightly'], env);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(
      /unknown channel "root.nightly" on target default: neither configured \(root\) nor holding jobs/,
    );
  });

  it('exits 2 on a configuration error or an unknown target', async () => {
    const missing = await cli(['tick']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/configuration error: DATABASE_URL: is required/);
    const unknown = await cli(['dispatch', '--channel', 'root', '--target', 'nope'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown target "nope"/);
    const unknownStatus = await cli(['status', '--target', 'nope'], env);
    expect(unknownStatus.code).toBe(2);
  });
});

describe('tick', () => {
  it('serves the target: human output by default, the TickSummary with --json; logs on stderr', async () => {
    await createJobs(db.pool, 6);
    const human = await cli(['tick'], env);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^default: ok: 1 pass, 4 claimed, 4 dispatched \(4 accepted\)/);
    expect(human.stdout).toMatch(/tick: 1 of 1 target\(s\) served/);
    expectJsonLogs(human.stderr);
    expect(human.logs.some((entry) => entry.message === 'tick done' && entry.command === 'tick')).toBe(true);

    const json = await cli(['tick', '--json', '--window', '0'], env);
    expect(json.code).toBe(0);
    const summary = JSON.parse(json.stdout);
    expect(summary).toMatchObject({ ok: true, windowSeconds: 0, failing: [] });
    expect(summary.targets[0]).toMatchObject({ target: 'default', claimed: 2, dispatched: 2 });
    expect(await stateCounts(db.pool)).toEqual({ done: 6 });
  });

  it('exits 1 when a target is not served', async () => {
    const run = await cli(['tick'], { ...env, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^default: FAILED/);
    expect(run.logs.some((entry) => entry.severity === 'ERROR')).toBe(true);
  });

  it('stops starting passes on SIGTERM during --window and settles', async () => {
    await createJobs(db.pool, 2);
    const done = odoo.counts().done;
    const child = spawn(process.execPath, [CLI, 'tick', '--window', '60', '--json'], {
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    // Once both jobs ran, the process is well inside its window, its signal handlers installed.
    await odoo.waitFor(() => odoo.counts().done >= done + 2, 10_000);
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    const summary = JSON.parse(stdout);
    // The runner's own record: it stopped well inside its 60 s window (whatever the machine's load).
    expect(summary.windowSeconds).toBe(60);
    expect(summary.durationMs).toBeLessThan(60_000);
    expect(summary.targets[0]).toMatchObject({ ok: true, claimed: 2, dispatched: 2 });
    expect(stderr).toMatch(/SIGTERM: stopping/);
  });
});

describe('dispatch', () => {
  it('runs jobs by uuid (a future eta included) and reports each', async () => {
    const job = await createJob(db.pool, { eta: 3600 });
    const done = await createJob(db.pool, { state: 'done' });
    const run = await cli(['dispatch', '--uuid', job.uuid, '--uuid', done.uuid, '--uuid', 'missing'], env);
    // Exit 1: one named job does not exist (the others still ran).
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(new RegExp(`${job.uuid}\\s+root\\s+dispatched\\s+accepted`));
    expect(run.stdout).toMatch(new RegExp(`${done.uuid}\\s+root\\s+not_pending\\s+state done`));
    expect(run.stdout).toMatch(/missing\s+not_found/);
    expect(run.stdout).toMatch(/dispatch on default: ok, 1 dispatched, 1 not pending, 1 not found/);
    expect((await getJob(db.pool, job.uuid))?.state).toBe('done');
  });

  it("runs a channel's due jobs with --limit, as JSON", async () => {
    const uuids = await createJobs(db.pool, 5, { channel: 'root.nightly' });
    await createJob(db.pool, { channel: 'root.other' });
    const run = await cli(['dispatch', '--channel', 'nightly', '--limit', '3', '--json'], env);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({
      ok: true,
      channel: 'root.nightly',
      limit: 3,
      claimed: 3,
      counts: { dispatched: 3 },
    });
    const states = await jobStates(db.pool, uuids);
    expect(uuids.map((uuid) => states[uuid])).toEqual(['done', 'done', 'done', 'pending', 'pending']);
  });

  it('--ignore-capacity claims beyond capacity', async () => {
    const uuids = await createJobs(db.pool, 3);
    const capped = await cli(['dispatch', '--channel', 'root', '--json'], {
      ...env,
      ODOO_QUEUE_JOB_CHANNELS: 'root:1',
    });
    expect(JSON.parse(capped.stdout).counts).toEqual({ dispatched: 1, capacity_full: 2 });
    await createJobs(db.pool, 1);
    const forced = await cli(['dispatch', '--channel', 'root', '--ignore-capacity', '--json'], {
      ...env,
      ODOO_QUEUE_JOB_CHANNELS: 'root:1',
    });
    expect(JSON.parse(forced.stdout).counts).toEqual({ dispatched: 3 });
    expect(Object.values(await jobStates(db.pool, uuids))).toEqual(['done', 'done', 'done']);
  });

  it('exits 1 when Odoo refuses the jobs (wrong basic auth) and puts them back', async () => {
    odoo.configure({ auth: { user: 'proxy', password: 'right-password' } });
    const job = await createJob(db.pool);
    const run = await cli(['dispatch', '--uuid', job.uuid], {
      ...env,
      ODOO_QUEUE_JOB_HTTP_AUTH_USER: 'proxy',
      ODOO_QUEUE_JOB_HTTP_AUTH_PASSWORD: 'wrong-password',
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/misconfigured/);
    expect(run.stdout).toMatch(/error: Odoo answered 401/);
    expect((await getJob(db.pool, job.uuid))?.state).toBe('pending');
  });
});

describe('status', () => {
  it('prints a table per target, JSON with --json, Prometheus with --prometheus', async () => {
    await createJobs(db.pool, 3, { channel: 'root.a' });
    await createJob(db.pool, { state: 'failed' });
    const channels = { ...env, ODOO_QUEUE_JOB_CHANNELS: 'root:4,root.a:2' };
    const human = await cli(['status'], channels);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(
      /^default \(127\.0\.0\.1:\d+\/qjr_test_\w+\) liveness: \w+, upstream runner: no/,
    );
    expect(human.stdout).toMatch(
      /CHANNEL\s+RUNNING\/CAPACITY\s+WAITING\s+PENDING\s+ENQUEUED\s+STARTED\s+FAILED/,
    );
    expect(human.stdout).toMatch(/\n\s+root\s+0\/4\s+0\s+0\s+0\s+0\s+1\s/);
    expect(human.stdout).toMatch(/\n\s+root\.a\s+0\/2\s+0\s+3\s+0\s+0\s+0\s/);

    const json = await cli(['status', '--json'], channels);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report.targets[0].channels.map((c: { channel: string }) => c.channel)).toEqual(['root', 'root.a']);
    expect(report.targets[0].channels[1].jobs.pending).toBe(3);

    const prometheus = await cli(['status', '--prometheus'], channels);
    expect(prometheus.stdout).toContain(
      'queue_job_jobs{target="default",channel="root.a",state="pending"} 3',
    );
  });

  it('exits 1 when a database cannot be read', async () => {
    const run = await cli(['status'], { ...env, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/ERROR status failed: .*ECONNREFUSED/);
  });
});

describe('keepalive', () => {
  it('pings and reports; exits 1 when a URL is unhealthy', async () => {
    const ok = await cli(['keepalive'], env);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`ok\\s+200\\s+\\d+ ms\\s+${odoo.url}/web/health\\s+target default`));
    expect(ok.stdout).toMatch(/keepalive: healthy/);
    const json = await cli(['keepalive', '--json'], env);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, results: [{ status: 200, reason: 'target' }] });
    const bad = await cli(['keepalive'], { ...env, KEEPALIVE_URLS: 'http://127.0.0.1:1/web/health' });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/FAIL\s+-\s+\d+ ms\s+http:\/\/127\.0\.0\.1:1\/web\/health/);
    expect(bad.stdout).toMatch(/keepalive: UNHEALTHY/);
  });
});

describe('optimize', () => {
  const indexes = async () =>
    (
      await db.pool.query<{ indexname: string }>(
        `SELECT indexname FROM pg_indexes WHERE tablename = 'queue_job' AND indexname LIKE 'queue_job_runner_%' ORDER BY 1`,
      )
    ).rows.map((row) => row.indexname);

  it('creates the helper indexes only when absent, drops them only when present', async () => {
    const created = await cli(['optimize'], env);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^default: queue_job_runner_\w+ created, queue_job_runner_\w+ created/);
    const names = await indexes();
    expect(names.length).toBeGreaterThan(0);

    const again = await cli(['optimize', '--json'], env);
    const report = JSON.parse(again.stdout);
    expect(report.targets[0].indexes.every((i: { action: string }) => i.action === 'already_present')).toBe(
      true,
    );

    const status = JSON.parse((await cli(['status', '--json'], env)).stdout);
    expect(status.targets[0].helperIndexes).toBe(true);

    const dropped = await cli(['optimize', '--drop'], env);
    expect(dropped.code).toBe(0);
    expect(dropped.stdout).toMatch(/queue_job_runner_\w+ dropped/);
    expect(await indexes()).toEqual([]);
    const absent = await cli(['optimize', '--drop'], env);
    expect(absent.stdout).toMatch(/already absent/);
  });

  it('rebuilds an invalid index left by an interrupted build', async () => {
    await cli(['optimize'], env);
    const [name] = await indexes();
    await db.pool.query(`UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass($1)`, [name]);
    const run = await cli(['optimize', '--json'], env);
    const actions = JSON.parse(run.stdout).targets[0].indexes;
    expect(actions).toContainEqual({ name, action: 'rebuilt' });
    await cli(['optimize', '--drop'], env);
  });

  it('exits 1 when the database cannot be reached', async () => {
    const run = await cli(['optimize'], { ...env, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/FAILED: .*ECONNREFUSED/);
  });
});
