// What the Terraform tests share: the module's .tf files, found the way `terraform` would read them.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** A parsed HCL body (hcl2json). */
export type Hcl = Record<string, unknown>;

/** Every .tf file under `dir`, provider caches (.terraform) and build output (.build) left out. */
export function tfFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory())
      return entry.name === '.terraform' || entry.name === '.build' ? [] : tfFiles(path);
    return entry.name.endsWith('.tf') ? [path] : [];
  });
}
