import { describe, expect, it } from 'vitest';
import type { WorkflowRecord } from './model.js';
import { publicCopy } from './publishing.js';
import type { StepDefinition } from './workflow.js';

const step = (id: string, tool: string, params: Record<string, unknown>): StepDefinition => ({
  id,
  tool,
  params,
  continue_on_error: false,
});

const workflow = (overrides: Partial<WorkflowRecord>): WorkflowRecord => ({
  id: 'wf_1',
  org_id: 'org_publisher_1',
  slug: 'sample',
  title: 'Sample',
  description: '',
  status: 'active',
  trigger_config: { type: 'manual', enabled: true },
  is_public: false,
  credit_cost: 0,
  callback_url: 'https://private.example.com/hook',
  metadata: {},
  version: 1,
  definition: { steps: [] },
  created_at: 0,
  updated_at: 0,
  generation: null,
  ...overrides,
});

describe('publicCopy', () => {
  it('turns literal credentials into secret references, keeps references and auth schemes, one name per value', () => {
    const copy = publicCopy(
      workflow({
        definition: {
          steps: [
            step('fetch', 'http', {
              url: 'https://api.example.com',
              headers: { Authorization: 'Bearer abc123', 'X-Other': '{{ secrets.OTHER }}' },
              json: { credentials: { user: 'ada', pass: 'p4ss' }, note: 'token abc123 again' },
            }),
            step('again', 'http', {
              url: 'https://api.example.com',
              headers: { Authorization: 'Bearer abc123' },
            }),
            step('basic', 'http', {
              url: 'https://api.example.com',
              headers: { Authorization: 'Basic {{ secrets.U }}:{{ secrets.P }}' },
            }),
            step('ask', 'llm', { prompt: 'Sum up', max_tokens: 500 }),
            step('kept', 'http', {
              url: 'https://api.example.com',
              headers: { Authorization: 'Bearer {{ secrets.T }}' },
            }),
          ],
        },
      }),
    );
    const [fetch, again, basic, ask, kept] = copy.steps.map(
      (s) => s.params as Record<string, Record<string, unknown>>,
    );
    expect(fetch!.headers).toEqual({
      Authorization: 'Bearer {{ secrets.FETCH_HEADERS_AUTHORIZATION }}',
      'X-Other': '{{ secrets.OTHER }}',
    });
    expect(again!.headers!.Authorization).toBe('Bearer {{ secrets.FETCH_HEADERS_AUTHORIZATION }}');
    expect(kept!.headers!.Authorization).toBe('Bearer {{ secrets.T }}');
    expect(basic!.headers!.Authorization).toBe('Basic {{ secrets.U }}:{{ secrets.P }}');
    expect(ask).toEqual({ prompt: 'Sum up', max_tokens: 500 });
    expect(fetch!.json).toEqual({
      credentials: {
        user: '{{ secrets.FETCH_JSON_CREDENTIALS_USER }}',
        pass: '{{ secrets.FETCH_JSON_CREDENTIALS_PASS }}',
      },
      note: 'token {{ secrets.FETCH_HEADERS_AUTHORIZATION }} again',
    });
    expect(copy.required_secrets).toEqual([
      'FETCH_HEADERS_AUTHORIZATION',
      'FETCH_JSON_CREDENTIALS_PASS',
      'FETCH_JSON_CREDENTIALS_USER',
      'OTHER',
      'P',
      'T',
      'U',
    ]);
  });

  it('replaces addresses, org ids and site ids by declared inputs; drops event filters; keeps valid declared inputs', () => {
    const copy = publicCopy(
      workflow({
        title: 'Mail ada@corp.example',
        trigger_config: {
          type: 'event',
          enabled: true,
          event_type: 'lead.created',
          filters: { owner: 'ada' },
          note: 'x',
        },
        metadata: {
          site_id: 'site_9',
          inputs: { lead_id: { type: 'string', description: 'The lead', required: true } },
        },
        definition: {
          steps: [
            { ...step('skip', 'log', { message: 'hi' }), when: 'input.from = "ada@corp.example"' },
            step('mail', 'email', {
              to: 'ada@corp.example',
              subject: 'Hi',
              text: 'CC ada@corp.example, org org_publisher_1',
            }),
            step('save', 'http', {
              url: 'https://crm.example.com',
              json: { siteId: 'site_9', lead: '{{ input.lead_id }}' },
            }),
          ],
        },
      }),
    );
    expect(copy.title).toBe('Mail [removed]');
    expect(copy.trigger_config).toEqual({ type: 'event', enabled: true, event_type: 'lead.created' });
    expect(copy.steps[1]!.when).toBeUndefined();
    expect(copy.steps[0]!.when).toBe('input.from = "[removed]"');
    expect(copy.steps[1]!.params).toEqual({
      to: '{{ input.mail_to_email }}',
      subject: 'Hi',
      text: 'CC {{ input.mail_to_email }}, org {{ input.org_id }}',
    });
    expect(copy.steps[2]!.params.json).toEqual({
      siteId: '{{ input.site_id }}',
      lead: '{{ input.lead_id }}',
    });
    expect(Object.keys(copy.inputs).sort()).toEqual(['lead_id', 'mail_to_email', 'org_id', 'site_id']);
    expect(JSON.stringify(copy)).not.toMatch(/corp\.example|org_publisher_1|site_9|private\.example/);
  });

  // The reference regex this replaced backtracked cubically on `{{` and a run of spaces.
  it('publishes params holding a megabyte of unclosed {{ in well under a second', () => {
    const spaces = '{{' + ' '.repeat(1_000_000);
    const unclosed = '{{'.repeat(500_000);
    const began = performance.now();
    const copy = publicCopy(
      workflow({
        definition: {
          steps: [
            step('call', 'http', {
              url: 'https://api.example.com',
              headers: { Authorization: spaces, 'X-Other': unclosed },
              json: { site_id: spaces, note: spaces, list: [unclosed] },
            }),
          ],
        },
      }),
    );
    expect(performance.now() - began).toBeLessThan(1000);
    expect(copy.required_secrets).toEqual(['CALL_HEADERS_AUTHORIZATION']);
    expect(Object.keys(copy.inputs)).toContain('site_id');
  });
});
