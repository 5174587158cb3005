import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpRecorder, type HttpRecorder } from '../support/http-recorder.js';
import { startHarness, waitFor, waitForRun, type Harness } from '../support/stepwise-harness.js';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../support/postgres.js';
import { startServe, type ServeProcess } from '../support/serve-process.js';

// A secret with characters that URL encoding changes, so its encoded spelling differs.
const SECRET = 'sk/Sweep+Marker=7f3a9c';
const BASIC = Buffer.from(`ada:${SECRET}`).toString('base64');
/** Every spelling of the secret a route, a callback or the log could hold. */
const SPELLINGS = [
  SECRET,
  encodeURIComponent(SECRET),
  new URLSearchParams({ s: SECRET }).toString().slice(2),
  // The characters of `Basic base64(ada:secret)` made of the secret's bits alone.
  BASIC.slice(8, -4),
  BASIC.slice(8, -4).replaceAll('+', '-').replaceAll('/', '_'),
];

const BACKENDS = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres', enabled: Boolean(testDatabaseUrl) },
] as const;

const expectNoSecret = (where: string, text: string): void => {
  for (const spelling of SPELLINGS) expect(text.includes(spelling), `${where} holds ${spelling}`).toBe(false);
};

describe('secret values, redacted wherever a run is stored, answered or logged', () => {
  let serve: ServeProcess;
  let echo: HttpRecorder;
  let callbacks: HttpRecorder;
  let completedRun: string;
  let failedRun: string;
  let workflowId: string;

  /** A route's body as text, read with the serve's own admin key. */
  const read = async (route: string): Promise<string> => {
    const response = await fetch(`${serve.url}${route}`, {
      headers: { authorization: `Bearer ${serve.adminKey}` },
    });
    const text = await response.text();
    expect(response.status, `${route}: ${text}`).toBe(200);
    return text;
  };

  beforeAll(async () => {
    echo = (await startHttpRecorder()).script('/echo', { echo: true });
    callbacks = await startHttpRecorder();
    serve = await startServe({ STEPWISE_ALLOW_PRIVATE_NETWORK: '1' });
    await serve.api('PUT', '/v1/secrets/SWEEP', { value: SECRET });
    const workflow = await serve.api<{ id: string }>('POST', '/v1/workflows', {
      title: 'Secret sweep',
      slug: 'secret-sweep',
      callbackUrl: `${callbacks.url}/callback`,
      steps: [
        {
          id: 'call',
          tool: 'http',
          params: {
            url: `${echo.url}/echo`,
            headers: { Authorization: 'Bearer {{ secrets.SWEEP }}' },
            query: { api_key: '{{ secrets.SWEEP }}' },
          },
        },
        { id: 'say', tool: 'log', params: { message: 'token is {{ secrets.SWEEP }}' } },
        {
          id: 'shape',
          tool: 'transform',
          params: {
            expression: '{ "echo": $, "basic": "Basic " & $base64encode("ada:" & $) }',
            data: '{{ secrets.SWEEP }}',
          },
        },
        {
          id: 'boom',
          tool: 'transform',
          when: 'input.fail = true',
          retry: { max_attempts: 1 },
          params: { expression: '$error("refused " & $)', data: '{{ secrets.SWEEP }}' },
        },
      ],
    });
    workflowId = workflow.id;
    completedRun = (
      await serve.api<{ jobId: string }>('POST', `/v1/workflows/${workflowId}/run`, {
        input: { fail: false },
      })
    ).jobId;
    const action = await fetch(`${serve.url}/api/workflow/secret-sweep?wait=true`, {
      method: 'POST',
      headers: { authorization: `Bearer ${serve.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ fail: true }),
    });
    const actionText = await action.text();
    expectNoSecret('the action dialect answer', actionText);
    failedRun = (JSON.parse(actionText) as { result: { run_id: string; status: string } }).result.run_id;
    expect(JSON.parse(actionText)).toMatchObject({ success: false, result: { status: 'failed' } });
    await waitFor(() => callbacks.requestsTo('/callback').length >= 2, 20_000, 'both callbacks');
  }, 60_000);

  afterAll(async () => {
    await serve?.stop();
    await echo?.close();
    await callbacks?.close();
  });

  it('sends the secret where the steps put it', () => {
    const [request] = echo.requestsTo('/echo');
    expect(request!.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(request!.query.api_key).toBe(SECRET);
  });

  it('stores outputs, inputs, errors and the timeline with [secret] in its place, in every dialect', async () => {
    const run = JSON.parse(await read(`/v1/runs/${completedRun}`)) as {
      status: string;
      steps: { id?: string; output?: unknown; input?: unknown }[];
      timeline: unknown[];
    };
    expect(run.status).toBe('completed');
    const steps = JSON.stringify(run.steps);
    expect(steps).toContain('Bearer [secret]');
    expect(steps).toContain(`api_key=[secret]`);
    expect(steps).toContain('token is [secret]');
    const failed = await read(`/v1/runs/${failedRun}`);
    expect(failed).toContain('refused [secret]');

    const routes = [
      `/v1/runs/${completedRun}`,
      `/v1/runs/${failedRun}`,
      `/v1/workflows/jobs/${completedRun}`,
      `/v1/workflows/jobs/${failedRun}`,
      `/v1/workflows/${workflowId}/jobs`,
      '/v1/runs',
      `/v1/runs/${failedRun}/deliveries`,
      `/v1/workflows/${workflowId}/summary`,
      `/v1/workflows/${workflowId}/summary/timeline`,
      `/v1/workflows/${workflowId}/summary/report?format=html`,
      `/v1/workflows/${workflowId}/summary/report`,
      '/v1/summary',
      '/v1/summary/timeline',
      `/api/v1/workflows/${workflowId}/status`,
      `/api/v1/workflows/${workflowId}/executions`,
    ];
    for (const route of routes) expectNoSecret(route, await read(route));
  });

  it('answers MCP get_run_status without the secret', async () => {
    const client = new Client({ name: 'secret-sweep', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${serve.url}/mcp`), {
        requestInit: { headers: { Authorization: `Bearer ${serve.adminKey}` } },
      }),
    );
    try {
      for (const runId of [completedRun, failedRun]) {
        const answer = JSON.stringify(
          await client.callTool({ name: 'get_run_status', arguments: { runId } }),
        );
        expect(answer).toContain(runId);
        expectNoSecret(`get_run_status ${runId}`, answer);
      }
    } finally {
      await client.close();
    }
  });

  it('posts callbacks without the secret', () => {
    const bodies = callbacks.requestsTo('/callback').map((request) => request.body);
    expect(bodies.join('\n')).toContain('refused [secret]');
    for (const body of bodies) expectNoSecret('a callback body', body);
  });

  it('keeps the secret out of the server log, the log tool line included', () => {
    const log = serve.process.stdout + serve.process.stderr;
    expect(log).toContain('token is [secret]');
    expectNoSecret('the server log', log);
  });
});

for (const backend of BACKENDS) {
  describe.skipIf(!backend.enabled)(
    `secret values, redacted by an execution that did not render them, on ${backend.name}`,
    () => {
      const TOKEN = 'tok-resume-5e3f';
      let server: HttpRecorder;
      let h: Harness;
      let database: TestDatabase | null = null;

      beforeAll(async () => {
        server = (await startHttpRecorder()).script('/introspect', { json: { active: true, token: TOKEN } });
        if (backend.name === 'postgres') database = await createTestDatabase();
        h = await startHarness({ databaseUrl: database?.url });
        await h.stepwise.secrets.put(h.orgId, 'CRM', TOKEN);
      });

      afterAll(async () => {
        await h?.close();
        await server?.close();
        await database?.drop();
      });

      const stored = async (runId: string): Promise<string> =>
        JSON.stringify([
          await h.stepwise.store.getRun(null, runId),
          await h.stepwise.store.listRunSteps(runId),
          await h.stepwise.store.listRunEvents(runId),
        ]);

      it('redacts, after a delay, an answer holding a secret an earlier step sent', async () => {
        const workflow = await h.stepwise.workflows.create(h.orgId, {
          title: 'resumed',
          steps: [
            {
              id: 'call',
              tool: 'http',
              params: { url: `${server.url}/login`, headers: { Authorization: 'Bearer {{ secrets.CRM }}' } },
            },
            { id: 'pause', tool: 'delay', params: { duration_ms: 50 } },
            { id: 'introspect', tool: 'http', params: { url: `${server.url}/introspect` } },
          ],
        });
        const { run } = await h.stepwise.runs.start(h.orgId, workflow.id, { input: {} });
        const finished = await waitForRun(h.stepwise, run.id);
        expect(finished.status).toBe('completed');
        expect(server.requestsTo('/login')[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
        const text = await stored(run.id);
        expect(text).toContain('run.waiting');
        expect(text).toContain('"token":"[secret]"');
        expect(text).not.toContain(TOKEN);
      });

      it('starts a sub-workflow with the secret redacted from its input', async () => {
        const child = await h.stepwise.workflows.create(h.orgId, {
          title: 'child',
          slug: 'secret-child',
          steps: [{ id: 'note', tool: 'log', params: { message: 'child ran' } }],
        });
        const parent = await h.stepwise.workflows.create(h.orgId, {
          title: 'parent',
          steps: [
            {
              id: 'sub',
              tool: 'workflow',
              params: { workflow: 'secret-child', input: { token: '{{ secrets.CRM }}' } },
            },
          ],
        });
        const { run } = await h.stepwise.runs.start(h.orgId, parent.id, { input: {} });
        expect((await waitForRun(h.stepwise, run.id)).status).toBe('completed');
        const [childRun] = await h.stepwise.runs.list(h.orgId, { workflow_id: child.id, limit: 1 });
        expect(childRun!.input).toMatchObject({ token: '[secret]' });
        expect(await stored(run.id)).not.toContain(TOKEN);
      });
    },
  );
}
