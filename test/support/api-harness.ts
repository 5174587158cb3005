import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildServer } from '../../src/api/server.js';
import { startHarness, type Harness } from './stepwise-harness.js';

export interface ApiHarness extends Harness {
  app: FastifyInstance;
  /** An admin key of org `default`. */
  adminKey: string;
  /** Creates a key in `org` (default: `default`) with the given scopes; a new org gets `plan` (default: the harness's). */
  key(scopes: string[], org?: string, plan?: string): Promise<string>;
  close(): Promise<void>;
}

/** A whole Stepwise with its Fastify app, driven in-process with `inject()`. */
export async function startApiHarness(options: Parameters<typeof startHarness>[0] = {}): Promise<ApiHarness> {
  const harness = await startHarness(options);
  const app = await buildServer(harness.stepwise);
  await app.ready();
  const admin = await harness.stepwise.keys.create({ orgName: 'default', scopes: ['admin'] });
  return {
    ...harness,
    app,
    adminKey: admin.key,
    async key(scopes, org = 'default', plan) {
      return (await harness.stepwise.keys.create({ orgName: org, scopes, plan })).key;
    },
    async close() {
      await app.close();
      await harness.close();
    },
  };
}

/** The parsed JSON body of an injected response. */
export const json = <T = Record<string, unknown>>(response: LightMyRequestResponse): T =>
  response.json() as T;
