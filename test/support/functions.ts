// The HTTP functions as Cloud Run serves them: the functions-framework's own Express server for each
// registered name (getTestServer), listening on a free port, called with real HTTP (fetch).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { resetInstance } from '../../functions/http.ts';
import { SETTINGS } from '../../shared/config.ts';
import '../../functions/index.ts';

export const FUNCTION_NAMES = ['tick', 'keepalive', 'dispatch', 'status'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

export interface Functions {
  url(name: FunctionName, query?: string): string;
  close(): Promise<void>;
}

export async function startFunctions(): Promise<Functions> {
  const servers = new Map<FunctionName, { server: Server; base: string }>();
  for (const name of FUNCTION_NAMES) {
    const server = getTestServer(name);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    servers.set(name, { server, base: `http://127.0.0.1:${port}/` });
  }
  return {
    url: (name, query) => `${servers.get(name)!.base}${query ? `?${query}` : ''}`,
    close: async () => {
      for (const { server } of servers.values()) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  };
}

/**
 * The functions read process.env once per instance: this replaces every runner setting with `vars`,
 * forgets the loaded configuration, and sends the functions' log lines to `write`.
 */
export function useEnv(vars: Record<string, string>, write?: (line: string) => void): void {
  for (const setting of SETTINGS) delete process.env[setting.name];
  Object.assign(process.env, vars);
  resetInstance(write ? { write } : {});
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined; tests read it loosely. */
  // biome-ignore lint/suspicious/noExplicitAny: response shapes are asserted with expect(), not typed.
  json: any;
}

export async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, init);
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** POST with a JSON body (already a string, or a value to stringify). */
export function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return call(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}
