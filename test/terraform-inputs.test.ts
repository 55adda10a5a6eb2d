/**
 * The module's input checks, run by Terraform itself: variables.tf and checks.tf planned alone in a
 * scratch directory (no provider to download: only the built-in terraform_data resource), with inputs
 * the Cloud APIs refuse and inputs they take. Skipped when terraform is not on PATH.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const terraformDir = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'terraform');
const available = !spawnSync('terraform', ['version'], { encoding: 'utf8' }).error;
let work = '';

beforeAll(() => {
  if (!available) return;
  work = mkdtempSync(join(tmpdir(), 'tf-inputs-'));
  for (const file of ['variables.tf', 'checks.tf']) copyFileSync(join(terraformDir, file), join(work, file));
  const init = spawnSync('terraform', ['init', '-backend=false', '-input=false', '-no-color'], {
    cwd: work,
    encoding: 'utf8',
  });
  expect(init.status, init.stdout + init.stderr).toBe(0);
}, 60_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** `terraform plan` with these inputs: ok, or the error text (line breaks folded). */
function plan(vars: Record<string, unknown>): { ok: boolean; text: string } {
  const inputs = { project_id: 'my-project-1', region: 'europe-west1', ...vars };
  const args = Object.entries(inputs).flatMap(([name, value]) => [
    '-var',
    `${name}=${typeof value === 'string' ? value : JSON.stringify(value)}`,
  ]);
  const result = spawnSync('terraform', ['plan', '-input=false', '-no-color', '-lock=false', ...args], {
    cwd: work,
    encoding: 'utf8',
  });
  return { ok: result.status === 0, text: `${result.stdout}${result.stderr}`.replace(/\s+/g, ' ') };
}

describe.skipIf(!available)('terraform inputs the Cloud APIs would refuse', () => {
  it('takes the defaults', () => {
    expect(plan({}).ok).toBe(true);
  });

  it('tick_cpu: 0.08 to 1 in steps of 0.001, above 1 whole numbers Cloud Run offers', () => {
    for (const cpu of ['1.5', '3', '0.3333'])
      expect(plan({ tick_cpu: cpu }), cpu).toMatchObject({ ok: false });
    expect(plan({ tick_cpu: '1.5' }).text).toMatch(/tick_cpu must be/);
    for (const cpu of ['0.08', '2']) expect(plan({ tick_cpu: cpu }).ok, cpu).toBe(true);
  });

  it('tick_memory against tick_cpu, per Cloud Run’s table', () => {
    const refused = [
      { tick_cpu: '0.333', tick_memory: '1Gi' },
      { tick_cpu: '1', tick_memory: '8Gi' },
      { tick_cpu: '4', tick_memory: '1Gi' },
      { tick_cpu: '8', tick_memory: '64Gi' },
    ];
    for (const inputs of refused) expect(plan(inputs), JSON.stringify(inputs)).toMatchObject({ ok: false });
    expect(plan({ tick_memory: '1Gi' }).text).toMatch(/needs tick_cpu of at least 0\.5/);
    const taken = [
      { tick_cpu: '0.5', tick_memory: '1Gi' },
      { tick_cpu: '4', tick_memory: '2Gi' },
    ];
    for (const inputs of taken) expect(plan(inputs).ok, JSON.stringify(inputs)).toBe(true);
  });

  it('uptime_check_regions: the API’s values, at least three locations (USA is three)', () => {
    expect(plan({ uptime_check_regions: ['EUROPE', 'USA_IOWA'] }).text).toMatch(
      /at least 3 checker locations/,
    );
    expect(plan({ uptime_check_regions: ['usa', 'EUROPE', 'ASIA_PACIFIC'] }).text).toMatch(/may hold only/);
    expect(plan({ uptime_check_regions: ['USA'] }).ok).toBe(true);
    expect(plan({ uptime_check_regions: ['EUROPE', 'ASIA_PACIFIC', 'SOUTH_AMERICA'] }).ok).toBe(true);
  });

  it('build_service_account: the resource name the Cloud Functions API expects, not a bare email', () => {
    expect(plan({ build_service_account: 'builder@p.iam.gserviceaccount.com' }).text).toMatch(
      /build_service_account must be projects\//,
    );
    expect(
      plan({
        build_service_account:
          'projects/my-project-1/serviceAccounts/builder@my-project-1.iam.gserviceaccount.com',
      }).ok,
    ).toBe(true);
  });
});
