/**
 * Static checks of the deployment in terraform/: every .tf file (the module, its submodules and examples) is
 * parsed with @cdktf/hcl2json and checked for what must hold whatever the inputs: nothing public, OIDC on
 * every scheduler job, secrets through Secret Manager only, timeouts consistent with the tick window, every
 * runner setting decided (drift), tests and Terraform left out of the upload. Expressions are resolved as far
 * as these checks need: variable defaults, locals, `each` of a for_each, simple templates. Providers cannot
 * be downloaded here, so `terraform validate` cannot run; the reference and module-wiring checks below stand
 * in for its offline part. `terraform fmt` and the .gcloudignore translation run when terraform is on PATH.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from '@cdktf/hcl2json';
import { beforeAll, describe, expect, it } from 'vitest';
import { SETTINGS } from '../shared/config.ts';
import { type Hcl, tfFiles } from './support/terraform.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const terraformDir = join(repo, 'terraform');

/** What the functions are built from, per the design: anything else in the upload is a mistake. */
const RUNTIME_UPLOAD = [
  /^package\.json$/,
  /^package-lock\.json$/,
  /^tsconfig[^/]*\.json$/,
  /^functions\//,
  /^shared\//,
];

interface Module {
  dir: string;
  files: string[];
  variable: Record<string, Hcl>;
  locals: Record<string, unknown>;
  output: Record<string, Hcl>;
  module: Record<string, Hcl>;
  provider: Record<string, Hcl>;
  terraform: Hcl[];
  resource: Record<string, Record<string, Hcl>>;
  data: Record<string, Record<string, Hcl>>;
}

interface Scope {
  module: Module;
  each?: { key: string; value: unknown };
}

const modules = new Map<string, Module>();
const parsedFiles = new Map<string, Hcl>();

function first(blocks: unknown): Hcl {
  return (Array.isArray(blocks) ? blocks[0] : blocks) as Hcl;
}

/** How hcl2json writes an expression: "${expression}". */
function hcl(expression: string): string {
  return `\${${expression}}`;
}

function isObject(value: unknown): value is Hcl {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function addFile(module: Module, path: string, json: Hcl) {
  module.files.push(relative(terraformDir, path));
  for (const [name, blocks] of Object.entries((json.variable ?? {}) as Hcl))
    module.variable[name] = first(blocks);
  for (const [name, blocks] of Object.entries((json.output ?? {}) as Hcl))
    module.output[name] = first(blocks);
  for (const [name, blocks] of Object.entries((json.module ?? {}) as Hcl))
    module.module[name] = first(blocks);
  for (const [name, blocks] of Object.entries((json.provider ?? {}) as Hcl))
    module.provider[name] = first(blocks);
  for (const block of (json.locals ?? []) as Hcl[]) Object.assign(module.locals, block);
  module.terraform.push(...((json.terraform ?? []) as Hcl[]));
  for (const kind of ['resource', 'data'] as const) {
    for (const [type, named] of Object.entries((json[kind] ?? {}) as Hcl)) {
      for (const [name, blocks] of Object.entries(named as Hcl)) {
        module[kind][type] ??= {};
        module[kind][type][name] = first(blocks);
      }
    }
  }
}

function moduleAt(dir: string): Module {
  const module = modules.get(dir);
  if (!module) throw new Error(`no Terraform files in ${relative(repo, dir) || '.'}`);
  return module;
}

// ---------------------------------------------------------------------------------------------------------
// Expressions: hcl2json keeps every expression as a "${...}" string. These helpers resolve the references the
// checks rely on and fail loudly on anything they cannot follow, so a refactoring cannot silently empty a check.
// ---------------------------------------------------------------------------------------------------------

const REFERENCE = String.raw`(?:var|local|each)\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+|\["[^"\]]*"\])*`;

function pathOf(reference: string): string[] {
  return [...reference.matchAll(/\.?([A-Za-z0-9_-]+)|\["([^"\]]*)"\]/g)].map(
    (match) => match[1] ?? match[2]!,
  );
}

function lookup(reference: string, scope: Scope): unknown {
  const [root, name, ...rest] = pathOf(reference);
  let value: unknown;
  if (root === 'var') {
    const variable = scope.module.variable[name!];
    if (!variable) throw new Error(`var.${name} is not declared`);
    if (!('default' in variable)) throw new Error(`var.${name} has no default to check against`);
    value = variable.default;
  } else if (root === 'local') {
    if (!(name! in scope.module.locals)) throw new Error(`local.${name} is not defined`);
    value = scope.module.locals[name!];
  } else if (root === 'each' && scope.each && (name === 'key' || name === 'value')) {
    value = scope.each[name];
  } else {
    throw new Error(`cannot resolve ${reference}`);
  }
  for (const key of rest) {
    value = evaluate(value, { module: scope.module });
    if (!isObject(value) || !(key in value)) throw new Error(`${reference}: no "${key}"`);
    value = value[key];
  }
  return value;
}

/** Index of the brace that closes the one at `start` (the "{" of a "${"). */
function closingBrace(text: string, start: number): number {
  let depth = 0;
  for (let index = start; index < text.length; index++) {
    if (text[index] === '{') depth++;
    else if (text[index] === '}' && --depth === 0) return index;
  }
  return -1;
}

/**
 * The value of an expression, as far as it is a literal, a reference, tostring/tonumber of a reference, or a
 * template of references; anything else comes back unchanged (still a "${...}" string).
 */
function evaluate(value: unknown, scope: Scope, depth = 0): unknown {
  if (depth > 32) throw new Error('reference cycle');
  if (typeof value !== 'string' || !value.includes('${')) return value;
  if (value.startsWith('${') && closingBrace(value, 1) === value.length - 1) {
    const expression = value.slice(2, -1).trim();
    if (new RegExp(`^${REFERENCE}$`).test(expression))
      return evaluate(lookup(expression, scope), scope, depth + 1);
    const sum = new RegExp(`^(${REFERENCE}|\\d+)\\s*\\+\\s*(${REFERENCE}|\\d+)$`).exec(expression);
    if (sum) {
      const term = (text: string) =>
        /^\d+$/.test(text) ? Number(text) : Number(evaluate(lookup(text, scope), scope, depth + 1));
      return term(sum[1]!) + term(sum[2]!);
    }
    const conversion = new RegExp(`^(tostring|tonumber)\\((${REFERENCE})\\)$`).exec(expression);
    if (conversion) {
      const inner = evaluate(lookup(conversion[2]!, scope), scope, depth + 1);
      return conversion[1] === 'tostring' ? String(inner) : Number(inner);
    }
    return value;
  }
  let resolved = true;
  const text = value.replace(/\$\{([^{}]*)\}/g, (whole, expression: string) => {
    const inner = new RegExp(`^${REFERENCE}$`).test(expression.trim())
      ? evaluate(lookup(expression.trim(), scope), scope, depth + 1)
      : /\+/.test(expression)
        ? evaluate(`\${${expression}}`, scope, depth + 1)
        : undefined;
    if (typeof inner === 'string' || typeof inner === 'number') return String(inner);
    resolved = false;
    return whole;
  });
  return resolved ? text : value;
}

function referencesIn(expression: string): string[] {
  return [...expression.matchAll(new RegExp(REFERENCE, 'g'))].map((match) => match[0]);
}

/**
 * The keys an object-valued expression can produce: the keys of an object literal, or of every object its
 * references resolve to (`{ for k, v in merge(local.a, each.value.b) : k => v if v != null }` -> keys of
 * local.a and each.value.b). Filters can only drop keys, so this is what may reach the environment.
 */
function reachableKeys(expression: unknown, scope: Scope): string[] {
  const value = evaluate(expression, scope);
  if (isObject(value)) return Object.keys(value);
  if (typeof value !== 'string') throw new Error(`not an object expression: ${JSON.stringify(value)}`);
  const keys = referencesIn(value).flatMap((reference) => {
    const target = evaluate(lookup(reference, scope), scope);
    return isObject(target) ? reachableKeys(target, scope) : [];
  });
  if (keys.length === 0) throw new Error(`cannot tell which keys ${value} produces`);
  return keys;
}

/** One scope per instance of a resource: for_each resolved against the defaults, `each` bound. */
function instances(block: Hcl, module: Module): Scope[] {
  if (!('for_each' in block)) return [{ module }];
  const collection = evaluate(block.for_each, { module });
  if (!isObject(collection)) throw new Error(`cannot resolve for_each ${String(block.for_each)}`);
  return Object.entries(collection).map(([key, value]) => ({ module, each: { key, value } }));
}

function seconds(duration: unknown): number {
  const match = typeof duration === 'string' ? /^(\d+(?:\.\d+)?)s$/.exec(duration) : null;
  if (!match) throw new Error(`not a duration in seconds: ${String(duration)}`);
  return Number(match[1]);
}

/** Every (key, value) pair anywhere below `value`, with its path. */
function* walk(value: unknown, path: string[] = []): Generator<[string[], unknown]> {
  yield [path, value];
  if (Array.isArray(value))
    for (const [index, item] of value.entries()) yield* walk(item, [...path, String(index)]);
  else if (isObject(value))
    for (const [key, item] of Object.entries(value)) yield* walk(item, [...path, key]);
}

// ---------------------------------------------------------------------------------------------------------
// .gcloudignore: the same translation as terraform/modules/gcloudignore, and the archive_file matcher
// (doublestar globs against paths relative to the archive root; a matching directory is skipped whole).
// ---------------------------------------------------------------------------------------------------------

function gcloudignorePatterns(text: string): string[] {
  return text
    .replace(/\r/g, '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

function archiveExcludes(text: string): string[] {
  const excludes = gcloudignorePatterns(text).map((pattern) => {
    const bare = pattern.replace(/\/$/, '');
    if (pattern.startsWith('/')) return bare.replace(/^\//, '');
    return bare.includes('/') ? bare : `**/${bare}`;
  });
  return [...new Set(excludes)];
}

function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let index = 0; index < glob.length; index++) {
    const char = glob[index]!;
    const segmentStart = index === 0 || glob[index - 1] === '/';
    if (char === '*' && glob[index + 1] === '*' && segmentStart && glob[index + 2] === '/') {
      source += '(?:[^/]*/)*';
      index += 2;
    } else if (char === '*' && glob[index + 1] === '*' && segmentStart && index + 2 === glob.length) {
      source += '.*';
      index += 1;
    } else if (char === '*') {
      source += '[^/]*';
    } else if (char === '?') {
      source += '[^/]';
    } else if (char === '[' && glob.indexOf(']', index + 1) > index) {
      const end = glob.indexOf(']', index + 1);
      const members = glob.slice(index + 1, end);
      source += `[${members.startsWith('!') ? `^${members.slice(1)}` : members}]`;
      index = end;
    } else {
      source += char.replace(/[.+^$(){}|\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}

/** The files archive_file would put in the zip, relative to `root`. */
function archivedFiles(root: string, excludes: string[], dir = root): string[] {
  const matchers = excludes.map(globToRegExp);
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    const name = relative(root, path).split(sep).join('/');
    if (matchers.some((matcher) => matcher.test(name))) return [];
    return entry.isDirectory() ? archivedFiles(root, excludes, path) : [name];
  });
}

function terraformAvailable(): boolean {
  return !spawnSync('terraform', ['version'], { encoding: 'utf8' }).error;
}

// ---------------------------------------------------------------------------------------------------------

beforeAll(async () => {
  for (const path of tfFiles(terraformDir).sort()) {
    const json = (await parse(path, readFileSync(path, 'utf8'))) as Hcl;
    parsedFiles.set(path, json);
    const dir = dirname(path);
    if (!modules.has(dir)) {
      modules.set(dir, {
        dir,
        files: [],
        variable: {},
        locals: {},
        output: {},
        module: {},
        provider: {},
        terraform: [],
        resource: {},
        data: {},
      });
    }
    addFile(modules.get(dir)!, path, json);
  }
});

describe('terraform/', () => {
  const root = () => moduleAt(terraformDir);
  const functions = () => root().resource.google_cloudfunctions2_function ?? {};
  const schedulerJobs = () => root().resource.google_cloud_scheduler_job ?? {};

  it('parses every .tf file: the module, its submodules and the examples', () => {
    const files = [...modules.values()].flatMap((module) => module.files);
    expect(files).toEqual(
      expect.arrayContaining([
        'versions.tf',
        'variables.tf',
        'source.tf',
        'functions.tf',
        'iam.tf',
        'secrets.tf',
        'scheduler.tf',
        'monitoring.tf',
        'network.tf',
        'outputs.tf',
        join('modules', 'gcloudignore', 'main.tf'),
        join('examples', 'minimal', 'main.tf'),
        join('examples', 'odoo-sh', 'main.tf'),
      ]),
    );
    expect(parsedFiles.size).toBe(files.length);
  });

  it('grants nothing to allUsers or allAuthenticatedUsers', () => {
    const public_ = [...parsedFiles].flatMap(([file, json]) =>
      [...walk(json)]
        .filter(([path, value]) =>
          [path.at(-1), value].some(
            (text) => typeof text === 'string' && /allUsers|allAuthenticatedUsers/.test(text),
          ),
        )
        .map(([path]) => `${relative(terraformDir, file)}: ${path.join('.')}`),
    );
    expect(public_).toEqual([]);
  });

  it('gives every variable a type and a description', () => {
    const incomplete = [...modules.values()].flatMap((module) =>
      Object.entries(module.variable)
        .filter(
          ([, variable]) =>
            !variable.type || typeof variable.description !== 'string' || !variable.description,
        )
        .map(([name]) => `${relative(terraformDir, module.dir) || '.'}: variable "${name}"`),
    );
    expect(incomplete).toEqual([]);
  });

  it('references only declared variables, locals, resources, data sources and modules', () => {
    const problems: string[] = [];
    for (const module of modules.values()) {
      const where = relative(terraformDir, module.dir) || '.';
      for (const [, value] of walk({ ...module, dir: undefined, files: undefined })) {
        if (typeof value !== 'string' || !value.includes('${')) continue;
        for (const [, name] of value.matchAll(/(?<![\w.])var\.([A-Za-z0-9_-]+)/g)) {
          if (!module.variable[name!]) problems.push(`${where}: var.${name}`);
        }
        for (const [, name] of value.matchAll(/(?<![\w.])local\.([A-Za-z0-9_-]+)/g)) {
          if (!(name! in module.locals)) problems.push(`${where}: local.${name}`);
        }
        for (const [, type, name] of value.matchAll(
          /(?<![\w.])(google_[a-z0-9_]+)\.([A-Za-z_][A-Za-z0-9_-]*)/g,
        )) {
          if (!module.resource[type!]?.[name!]) problems.push(`${where}: ${type}.${name}`);
        }
        for (const [, type, name] of value.matchAll(
          /(?<![\w.])data\.([a-z0-9_]+)\.([A-Za-z_][A-Za-z0-9_-]*)/g,
        )) {
          if (!module.data[type!]?.[name!]) problems.push(`${where}: data.${type}.${name}`);
        }
        for (const [, name] of value.matchAll(/(?<![\w.])module\.([A-Za-z0-9_-]+)/g)) {
          if (!module.module[name!]) problems.push(`${where}: module.${name}`);
        }
      }
    }
    expect([...new Set(problems)]).toEqual([]);
  });

  it('wires every local module call to declared inputs and outputs', () => {
    const meta = new Set(['source', 'version', 'providers', 'count', 'for_each', 'depends_on']);
    const problems: string[] = [];
    for (const caller of modules.values()) {
      for (const [name, call] of Object.entries(caller.module)) {
        const source = String(call.source);
        expect(source, `module "${name}" must come from this repository`).toMatch(/^\.\.?\//);
        const callee = moduleAt(resolve(caller.dir, source));
        const inputs = Object.keys(call).filter((key) => !meta.has(key));
        for (const input of inputs) {
          if (!callee.variable[input]) problems.push(`module.${name}: no variable "${input}"`);
        }
        for (const [variable, block] of Object.entries(callee.variable)) {
          if (!('default' in block) && !inputs.includes(variable))
            problems.push(`module.${name}: "${variable}" missing`);
        }
        for (const [, value] of walk(caller)) {
          if (typeof value !== 'string') continue;
          for (const [, output] of value.matchAll(new RegExp(`module\\.${name}\\.([A-Za-z0-9_-]+)`, 'g'))) {
            if (!callee.output[output!]) problems.push(`module.${name}.${output}: no such output`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('keeps provider configuration out of the module and pins the providers it uses', () => {
    expect(root().provider).toEqual({});
    for (const module of modules.values()) {
      for (const block of module.terraform) {
        expect(block.required_version, `${module.dir}: required_version`).toMatch(/\d/);
        for (const requirement of (block.required_providers ?? []) as Hcl[]) {
          for (const [name, provider] of Object.entries(requirement)) {
            expect((provider as Hcl).version, `${module.dir}: version of provider ${name}`).toMatch(/\d/);
          }
        }
      }
    }
    expect(moduleAt(join(terraformDir, 'examples', 'minimal')).provider.google).toBeDefined();
  });

  it('deploys one nodejs24 function per entry point, as the runtime service account', () => {
    const entryPoints: string[] = [];
    for (const [name, block] of Object.entries(functions())) {
      for (const scope of instances(block, root())) {
        const build = first(block.build_config);
        expect(evaluate(build.runtime, scope), name).toBe('nodejs24');
        entryPoints.push(String(evaluate(build.entry_point, scope)));
        expect(first(block.service_config).service_account_email).toBe(
          hcl('google_service_account.runtime.email'),
        );
      }
    }
    expect(entryPoints.sort()).toEqual(['dispatch', 'keepalive', 'status', 'tick']);
  });

  it('signs every scheduler job with an OIDC token of the scheduler account, and retries it', () => {
    expect(Object.keys(schedulerJobs()).sort()).toEqual(['keepalive', 'manual_run', 'tick']);
    const jobs = [...modules.values()].flatMap((module) =>
      Object.entries(module.resource.google_cloud_scheduler_job ?? {}).map(
        ([name, job]) => [`${relative(terraformDir, module.dir) || '.'}: ${name}`, job] as const,
      ),
    );
    for (const [name, job] of jobs) {
      const target = first(job.http_target);
      expect(target, `${name}: http_target`).toBeDefined();
      expect(target.oauth_token, `${name}: oauth_token`).toBeUndefined();
      const oidc = first(target.oidc_token);
      expect(oidc, `${name}: oidc_token`).toBeDefined();
      expect(oidc.service_account_email, name).toBe(hcl('google_service_account.scheduler.email'));
      expect(oidc.audience, `${name}: audience`).toBe(target.uri);
      expect(first(job.retry_config), `${name}: retry_config`).toBeDefined();
    }
  });

  it('grants roles/run.invoker to the scheduler account alone, and secret access per secret', () => {
    const grants = Object.entries(root().resource).flatMap(([type, named]) =>
      Object.entries(named).map(([name, block]) => ({ id: `${type}.${name}`, type, block })),
    );
    // Authoritative bindings and project-wide grants would reach beyond this module's own resources.
    expect(grants.filter(({ type }) => /_iam_(binding|policy)$|^google_project_iam_/.test(type))).toEqual([]);
    const invokers = grants.filter(({ block }) => block.role === 'roles/run.invoker');
    expect(invokers.map(({ id }) => id)).toEqual(['google_cloud_run_service_iam_member.scheduler_invoker']);
    for (const { block } of invokers) {
      expect(block.member).toBe(`serviceAccount:${hcl('google_service_account.scheduler.email')}`);
    }
    const secretAccess = grants.filter(({ block }) => block.role === 'roles/secretmanager.secretAccessor');
    expect(secretAccess.map(({ type }) => type)).toEqual(['google_secret_manager_secret_iam_member']);
    expect(secretAccess[0]!.block.member).toBe(
      `serviceAccount:${hcl('google_service_account.runtime.email')}`,
    );
    expect(secretAccess[0]!.block.secret_id).toMatch(/google_secret_manager_secret\.runtime\[/);
  });

  it('passes secret settings to the functions through secret_environment_variables only', () => {
    const secretNames: string[] = SETTINGS.filter((setting) => setting.secret).map((setting) => setting.name);
    const locals = root().locals;
    const secretSettings = Object.keys(locals.secret_settings as Hcl);
    const unset = Object.keys(locals.unset_settings as Hcl);
    expect(secretNames.filter((name) => !secretSettings.includes(name) && !unset.includes(name))).toEqual([]);
    expect(secretSettings.filter((name) => !secretNames.includes(name))).toEqual([]);

    // Wherever an environment_variables map appears (functions, build configs, in any module), the keys it can
    // produce, with every for_each instance resolved, include no secret setting.
    for (const module of modules.values()) {
      for (const [type, named] of Object.entries(module.resource)) {
        for (const [name, block] of Object.entries(named)) {
          const environments = [...walk(block)].filter(([path]) => path.at(-1) === 'environment_variables');
          if (environments.length === 0) continue;
          for (const scope of instances(block, module)) {
            const id = `${type}.${name}${scope.each ? `["${scope.each.key}"]` : ''}`;
            for (const [path, value] of environments) {
              const keys = reachableKeys(value, scope);
              expect(
                keys.filter((key) => secretNames.includes(key)),
                `${id}: ${path.join('.')}`,
              ).toEqual([]);
            }
          }
        }
      }
    }

    for (const [name, block] of Object.entries(functions())) {
      const service = first(block.service_config);
      const dynamic = first((service.dynamic as Hcl | undefined)?.secret_environment_variables);
      expect(dynamic, `${name}: dynamic secret_environment_variables`).toBeDefined();
      expect(first(dynamic.content).key).toBe(hcl('secret_environment_variables.key'));
      for (const scope of instances(block, root())) {
        expect(reachableKeys(dynamic.for_each, scope).sort()).toEqual([...secretSettings].sort());
      }
    }
  });

  it('plain environment values never come from sensitive variables', () => {
    for (const local of ['plain_settings', 'tick_settings']) {
      const settings = root().locals[local] as Hcl;
      for (const [name, expression] of Object.entries(settings)) {
        for (const reference of referencesIn(String(expression))) {
          if (!reference.startsWith('var.')) continue;
          expect(root().variable[pathOf(reference)[1]!]?.sensitive, `${name} <- ${reference}`).not.toBe(true);
        }
      }
    }
  });

  it('keeps the tick timeout above its window and every scheduler deadline above its function timeout', () => {
    expect(root().variable.tick_window_seconds?.default).toBe(70);
    const [tickFunction] = Object.values(functions());
    const scopes = instances(tickFunction!, root());
    const tick = scopes.find((scope) => scope.each?.key === 'tick')!;
    const environment = evaluate(first(tickFunction!.service_config).environment_variables, tick);
    const settings = referencesIn(String(environment))
      .map((reference) => evaluate(lookup(reference, tick), tick))
      .find((value) => isObject(value) && 'TICK_WINDOW_SECONDS' in value) as Hcl;
    const window = Number(evaluate(settings.TICK_WINDOW_SECONDS, tick));
    expect(window).toBe(70);

    const timeouts = Object.fromEntries(
      scopes.map((scope) => [
        scope.each!.key,
        evaluate(first(tickFunction!.service_config).timeout_seconds, scope),
      ]),
    );
    for (const timeout of Object.values(timeouts)) expect(timeout).toBeTypeOf('number');
    expect(timeouts.tick as number).toBeGreaterThan(window);

    for (const [name, job] of Object.entries(schedulerJobs())) {
      const scope = instances(job, root())[0] ?? { module: root() };
      const deadline = seconds(evaluate(job.attempt_deadline, scope));
      expect(deadline, `${name}: attempt_deadline`).toBeGreaterThanOrEqual(window);
      expect(deadline, `${name}: Cloud Scheduler allows 15 s to 30 min`).toBeGreaterThanOrEqual(15);
      expect(deadline, `${name}: Cloud Scheduler allows 15 s to 30 min`).toBeLessThanOrEqual(1800);
      // Scheduler waits for the function's real answer: the tick answers after its window.
      const called = /runner\["([a-z]+)"\]/.exec(String(first(job.http_target).uri))?.[1];
      // With a margin: a deadline equal to the timeout gives up as the function answers, and retries it.
      expect(deadline, `${name}: attempt_deadline vs timeout of ${called}`).toBeGreaterThanOrEqual(
        (timeouts[called!] as number) + 10,
      );
    }
  });

  it('leaves no minute without an open window: two tick jobs, every two minutes, one minute apart', () => {
    // Cloud Scheduler never runs two executions of one job at once, so one job's windows cannot overlap.
    const tick = schedulerJobs().tick!;
    const jobs = instances(tick, root());
    expect(jobs.map((job) => job.each?.key).sort()).toEqual(['even', 'odd']);
    const minutes = (cron: string) => {
      const [field] = cron.split(' ');
      const match = /^(\d+)-(\d+)\/(\d+)$/.exec(field!);
      expect(match, `${cron}: minute field a-b/step`).not.toBeNull();
      const [, from, to, step] = match!.map(Number);
      return Array.from({ length: Math.floor((to! - from!) / step!) + 1 }, (_, i) => from! + i * step!);
    };
    const starts = jobs.flatMap((job) => minutes(String(job.each!.value))).sort((a, b) => a - b);
    expect(starts).toEqual(Array.from({ length: 60 }, (_, i) => i));
    // Each job's window outlasts the minute until the other job starts, by enough for a cold start.
    const window = Number(root().variable.tick_window_seconds?.default);
    expect(window).toBeGreaterThanOrEqual(65);
    expect(window).toBeLessThanOrEqual(110);
  });

  it('sends the runner’s basic-auth credentials with the uptime check (else 401 and an alert forever)', () => {
    const check = root().resource.google_monitoring_uptime_check_config?.odoo_health;
    const http = first(check?.http_check);
    const auth = first((http.dynamic as Hcl | undefined)?.auth_info);
    expect(auth, 'http_check: dynamic auth_info').toBeDefined();
    expect(String(auth.for_each)).toMatch(/each\.value\.auth_user/);
    const content = first(auth.content);
    expect(content.username).toBe(hcl('auth_info.value'));
    expect(String(content.password)).toMatch(/local\.odoo_auth_passwords\[each\.key\]/);
    // Users come from the same variables the runner's credentials do.
    expect(String(root().locals.odoo_auth_users)).toMatch(/var\.odoo_queue_job_http_auth_user/);
    expect(String(root().locals.odoo_auth_passwords)).toMatch(/http_auth_password/);
  });

  it('deploys a bridge target (Odoo.sh): its token a Secret Manager secret, no database URL, no VPC egress', () => {
    const locals = root().locals;
    expect(Object.keys(locals.secret_settings as Hcl)).toEqual(
      expect.arrayContaining(['DATABASE_URL', 'ODOO_BRIDGE_TOKEN', 'QUEUE_JOB_TARGETS']),
    );
    expect(String((locals.secret_values as Hcl).ODOO_BRIDGE_TOKEN)).toBe(hcl('var.odoo_bridge_token'));
    expect(root().variable.odoo_bridge_token?.sensitive).toBe(true);
    // Each target of QUEUE_JOB_TARGETS reaches its database one way: databaseUrl or bridgeToken.
    expect(String(locals.targets_json)).toMatch(/bridgeToken\s*=/);
    expect(String(root().variable.target_secrets?.type)).toMatch(/bridge_token/);
    // Egress through a VPC connector only when asked for: a bridge-only deployment needs none.
    const service = first(Object.values(functions())[0]!.service_config);
    expect(String(service.vpc_connector)).toMatch(/^\$\{local\.static_egress \?/);
    expect(root().variable.static_egress?.default).toEqual({ enabled: false });

    const example = moduleAt(join(terraformDir, 'examples', 'odoo-sh'));
    const call = example.module.queue_job_runner!;
    expect(call.odoo_bridge_token).toBe(hcl('var.odoo_bridge_token'));
    expect(call.database_url).toBeUndefined();
    expect(call.static_egress).toBeUndefined();
    expect(example.variable.odoo_bridge_token?.sensitive).toBe(true);
    const tfvars = readFileSync(
      join(terraformDir, 'examples', 'odoo-sh', 'terraform.tfvars.example'),
      'utf8',
    );
    expect(tfvars).toMatch(/^odoo_url\s*=\s*"https:\/\//m);
    expect(tfvars).toMatch(/TF_VAR_odoo_bridge_token/);
    expect(tfvars).not.toMatch(/^odoo_bridge_token\s*=/m);
  });

  // Read by Node.js, glibc and the functions framework, not by the runner's configuration.
  const PLATFORM_ENVIRONMENT = new Set(['NODE_ENV', 'NODE_OPTIONS', 'MALLOC_ARENA_MAX']);

  it('decides every runner setting: plain, secret, or unset with a reason (drift)', () => {
    const locals = root().locals;
    const plain = new Set<string>();
    for (const [, block] of Object.entries(functions())) {
      for (const scope of instances(block, root())) {
        for (const key of reachableKeys(first(block.service_config).environment_variables, scope))
          if (!PLATFORM_ENVIRONMENT.has(key)) plain.add(key);
      }
    }
    const secret = new Set(Object.keys(locals.secret_settings as Hcl));
    const unset = locals.unset_settings as Hcl;
    const decided = [...plain, ...secret, ...Object.keys(unset)];

    const names: string[] = SETTINGS.map((setting) => setting.name);
    const undecided = names.filter((name) => !decided.includes(name));
    expect(
      undecided,
      'settings of shared/config.ts that terraform/settings.tf neither sets nor lists in unset_settings',
    ).toEqual([]);
    expect(
      decided.filter((name, index) => decided.indexOf(name) !== index),
      'decided twice',
    ).toEqual([]);
    expect(
      decided.filter((name) => !names.includes(name)),
      'set by Terraform but unknown to the runner',
    ).toEqual([]);
    for (const setting of SETTINGS) {
      if (plain.has(setting.name)) expect(setting.secret, `${setting.name} is a plain value`).toBe(false);
      if (secret.has(setting.name)) expect(setting.secret, `${setting.name} is a secret`).toBe(true);
    }
    for (const [name, reason] of Object.entries(unset)) {
      expect(typeof reason === 'string' && reason.length > 20, `unset_settings.${name} needs a reason`).toBe(
        true,
      );
    }
  });

  it('leaves tests, Terraform and dev tooling out of the upload, as .gcloudignore does', () => {
    const archive = root().data.archive_file?.source;
    expect(archive?.source_dir).toBe(hcl('local.source_dir'));
    expect(archive?.excludes).toBe(hcl('module.gcloudignore.excludes'));
    expect(String(root().module.gcloudignore?.gcloudignore)).toMatch(/^\$\{file\(".*\/\.gcloudignore"\)\}$/);
    expect(String(archive?.output_path)).toMatch(/^\$\{path\.module\}\//);

    const text = readFileSync(join(repo, '.gcloudignore'), 'utf8');
    const patterns = gcloudignorePatterns(text);
    for (const dir of ['test/', 'terraform/', 'bench/', 'dev/', 'node_modules/', 'dist/', '.git/']) {
      expect(patterns, `.gcloudignore excludes ${dir}`).toContain(dir);
    }
    expect(patterns.filter((pattern) => pattern.startsWith('!'))).toEqual([]);

    const excludes = archiveExcludes(text);
    expect(excludes).toEqual(expect.arrayContaining(['**/test', '**/terraform']));
    const uploaded = archivedFiles(repo, excludes);
    expect(uploaded).toEqual(
      expect.arrayContaining([
        'package.json',
        'package-lock.json',
        'tsconfig.build.json',
        'shared/config.ts',
      ]),
    );
    expect(
      uploaded.filter((file) => /^(test|terraform|bench|dev|node_modules|dist|\.git)\//.test(file)),
    ).toEqual([]);
    expect(
      uploaded.filter((file) => !RUNTIME_UPLOAD.some((pattern) => pattern.test(file))),
      'files the functions do not need would be uploaded: add them to .gcloudignore',
    ).toEqual([]);
  });

  it('translates .gcloudignore in Terraform exactly as checked here', (context) => {
    context.skip(!terraformAvailable(), 'terraform is not on PATH: the module translation is not evaluated');
    const work = mkdtempSync(join(tmpdir(), 'gcloudignore-'));
    try {
      writeFileSync(
        join(work, 'main.tf'),
        [
          'module "gcloudignore" {',
          `  source       = ${JSON.stringify(join(terraformDir, 'modules', 'gcloudignore'))}`,
          `  gcloudignore = file(${JSON.stringify(join(repo, '.gcloudignore'))})`,
          '}',
          'output "excludes" { value = module.gcloudignore.excludes }',
          'output "unsupported" { value = module.gcloudignore.unsupported }',
        ].join('\n'),
      );
      const run = (...args: string[]) => {
        const result = spawnSync('terraform', args, { cwd: work, encoding: 'utf8' });
        expect(result.status, `terraform ${args.join(' ')}\n${result.stdout}${result.stderr}`).toBe(0);
        return result.stdout;
      };
      run('init', '-backend=false', '-input=false', '-no-color');
      run('apply', '-auto-approve', '-input=false', '-no-color');
      const outputs = JSON.parse(run('output', '-json'));
      expect(outputs.unsupported.value).toEqual([]);
      expect(outputs.excludes.value).toEqual(
        archiveExcludes(readFileSync(join(repo, '.gcloudignore'), 'utf8')),
      );
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('is formatted (terraform fmt -check -recursive terraform/)', (context) => {
    context.skip(!terraformAvailable(), 'terraform is not on PATH: formatting is not checked');
    const result = spawnSync('terraform', ['fmt', '-check', '-recursive', '-no-color', 'terraform/'], {
      cwd: repo,
      encoding: 'utf8',
    });
    expect(
      result.status,
      `files to format (run terraform fmt -recursive terraform/):\n${result.stdout}`,
    ).toBe(0);
  });
});
