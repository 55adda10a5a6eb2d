// Vitest global setup: one PostgreSQL server for the whole run, and the template database every test
// file clones (see db.ts). Test files read the admin URL with `inject('adminDatabaseUrl')`.
import type { TestProject } from 'vitest/node';
import { createTemplate, dropDatabase, TEMPLATE_DATABASE } from './db.ts';
import { startPostgres, stopPostgres } from './postgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const server = await startPostgres();
  try {
    await createTemplate(server.adminUrl);
  } catch (error) {
    await stopPostgres(server);
    throw error;
  }
  console.log(`[test-db] ${server.description}; template ready in ${Date.now() - started} ms`);
  project.provide('adminDatabaseUrl', server.adminUrl);
  return async () => {
    // A server we started goes away with everything in it; a given server keeps only its own databases.
    if (server.kind === 'url') await dropDatabase(server.adminUrl, TEMPLATE_DATABASE);
    await stopPostgres(server);
  };
}
