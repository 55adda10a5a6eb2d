/**
 * Every argument and block of every resource and data source in terraform/ (the module, its submodules,
 * the examples) is one the provider documents: checked against a committed snapshot of the provider
 * schema for the types the module uses (test/support/google-provider-schema.json). `terraform validate`
 * would catch a misspelt argument, but it needs the providers, which cannot be downloaded here.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from '@cdktf/hcl2json';
import { describe, expect, it } from 'vitest';
import { type Hcl, tfFiles } from './support/terraform.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const terraformDir = join(repo, 'terraform');

interface BlockSchema {
  attributes: string[];
  blocks?: Record<string, BlockSchema>;
}

const snapshot = JSON.parse(
  readFileSync(join(repo, 'test', 'support', 'google-provider-schema.json'), 'utf8'),
) as {
  resource: Record<string, BlockSchema>;
  builtin: Record<string, BlockSchema>;
  data: Record<string, BlockSchema>;
};

/** Terraform's own meta-arguments, valid in every resource and data block. */
const META = new Set([
  'count',
  'for_each',
  'depends_on',
  'lifecycle',
  'provider',
  'provisioner',
  'connection',
]);

const isBlockList = (value: unknown): value is Hcl[] =>
  Array.isArray(value) &&
  value.length > 0 &&
  value.every((item) => typeof item === 'object' && item && !Array.isArray(item));

/** Arguments and blocks of `block` that `schema` does not know, as dotted paths. */
function unknownArguments(block: Hcl, schema: BlockSchema, path: string[] = [], top = true): string[] {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(block)) {
    if (top && META.has(name)) continue;
    if (name === 'dynamic') {
      for (const [blockName, dynamics] of Object.entries(value as Hcl)) {
        const inner = schema.blocks?.[blockName];
        if (!inner) {
          problems.push([...path, blockName].join('.'));
          continue;
        }
        for (const dynamic of dynamics as Hcl[]) {
          for (const content of (dynamic.content ?? []) as Hcl[])
            problems.push(...unknownArguments(content, inner, [...path, blockName], false));
        }
      }
      continue;
    }
    const inner = schema.blocks?.[name];
    if (inner && isBlockList(value)) {
      for (const item of value) problems.push(...unknownArguments(item, inner, [...path, name], false));
    } else if (!schema.attributes.includes(name) && !inner) {
      problems.push([...path, name].join('.'));
    }
  }
  return problems;
}

describe('terraform/ against the provider schema snapshot', () => {
  it('uses only documented arguments and blocks of known resource types', async () => {
    const problems: string[] = [];
    let checked = 0;
    for (const file of tfFiles(terraformDir)) {
      const json = (await parse(file, readFileSync(file, 'utf8'))) as Hcl;
      const where = relative(terraformDir, file);
      for (const kind of ['resource', 'data'] as const) {
        for (const [type, named] of Object.entries((json[kind] ?? {}) as Hcl)) {
          const schema =
            kind === 'data' ? snapshot.data[type] : (snapshot.resource[type] ?? snapshot.builtin[type]);
          for (const [name, blocks] of Object.entries(named as Hcl)) {
            if (!schema) {
              problems.push(`${where}: ${kind} ${type}.${name}: type not in the schema snapshot`);
              continue;
            }
            for (const block of blocks as Hcl[]) {
              checked += 1;
              for (const argument of unknownArguments(block, schema))
                problems.push(`${where}: ${type}.${name}: unknown argument ${argument}`);
            }
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(20);
    expect(problems).toEqual([]);
  });

  it('would catch a misspelt argument, a misspelt nested one and one in a dynamic block', () => {
    const job = snapshot.resource.google_cloud_scheduler_job!;
    expect(unknownArguments({ attempt_deadline: '60s', schedule: '* * * * *' }, job)).toEqual([]);
    expect(unknownArguments({ attempt_deadlin: '60s' }, job)).toEqual(['attempt_deadlin']);
    expect(unknownArguments({ http_target: [{ uri: 'x', oidc_token: [{ audiance: 'x' }] }] }, job)).toEqual([
      'http_target.oidc_token.audiance',
    ]);
    const check = snapshot.resource.google_monitoring_uptime_check_config!;
    expect(
      unknownArguments({ http_check: [{ dynamic: { auth_info: [{ content: [{ user: 'u' }] }] } }] }, check),
    ).toEqual(['http_check.auth_info.user']);
  });
});
