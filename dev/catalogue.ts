// `npm run catalogue`: writes the bridge addon's statement catalogue from shared/sql.ts (commit it).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CATALOGUE_PATH, catalogueDocument, catalogueText } from '../shared/catalogue.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const path = join(root, CATALOGUE_PATH);
mkdirSync(dirname(path), { recursive: true });
writeFileSync(path, catalogueText());
const doc = catalogueDocument();
console.log(`${CATALOGUE_PATH}: ${Object.keys(doc.statements).length} statements, sha256 ${doc.sha256}`);
