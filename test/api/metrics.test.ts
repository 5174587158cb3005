import { afterAll, describe, expect, it } from 'vitest';
import { json, startApiHarness, type ApiHarness } from '../support/api-harness.js';

const harnesses: ApiHarness[] = [];
afterAll(async () => {
  for (const h of harnesses) await h.close();
});

async function harness(env: Record<string, string> = {}): Promise<ApiHarness> {
  const h = await startApiHarness({ worker: false, env });
  harnesses.push(h);
  return h;
}

const scrape = (h: ApiHarness, key?: string) =>
  h.app.inject({ method: 'GET', url: '/metrics', headers: key ? { authorization: `Bearer ${key}` } : {} });

describe('/metrics', () => {
  it('by default needs a key with metrics:read (or admin): 401 without one, 403 naming the scope with another', async () => {
    const h = await harness();
    const anonymous = await scrape(h);
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.body).not.toContain('stepwise_');

    const reader = await scrape(h, await h.key(['workflows:read']));
    expect(reader.statusCode).toBe(403);
    expect(json(reader)).toMatchObject({
      error: { code: 'MISSING_SCOPE', message: "this API key lacks the 'metrics:read' scope" },
    });
    expect(reader.body).not.toContain('stepwise_http_requests_total');

    for (const key of [await h.key(['metrics:read']), h.adminKey]) {
      const scraped = await scrape(h, key);
      expect(scraped.statusCode).toBe(200);
      expect(scraped.headers['content-type']).toMatch(/^text\/plain/);
      expect(scraped.body).toContain('stepwise_http_requests_total');
    }
  });

  it('answers anyone with STEPWISE_METRICS_PUBLIC=1', async () => {
    const h = await harness({ STEPWISE_METRICS_PUBLIC: '1' });
    const anonymous = await scrape(h);
    expect(anonymous.statusCode).toBe(200);
    expect(anonymous.body).toContain('stepwise_worker_active_runs');
  });
});
