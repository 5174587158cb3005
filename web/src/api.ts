// A tiny typed client of the Stepwise REST API. The key lives in sessionStorage only.
export type * from './types';
import type {
  CreditAccount,
  Delivery,
  Instance,
  Job,
  Listing,
  RunDetail,
  Schedule,
  Workflow,
  WorkflowSummary,
  WorkflowTimeline,
} from './types';

/** `GET /v1/summary`: a workflow's summary, over every run of the org. */
export type OrgSummary = Omit<WorkflowSummary, 'workflow_id'>;

export const RUN_STATUSES = [
  'pending',
  'running',
  'completed',
  'partial_complete',
  'failed',
  'cancelled',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const FINAL_STATUSES: readonly string[] = ['completed', 'partial_complete', 'failed', 'cancelled'];
export const isFinal = (status: string): boolean => FINAL_STATUSES.includes(status);

/** An answer other than 2xx, with the API's `{ error: { code, message } }` when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const KEY_STORAGE = 'stepwise.apiKey';

export const session = {
  key(): string | null {
    return sessionStorage.getItem(KEY_STORAGE);
  },
  signIn(key: string): void {
    sessionStorage.setItem(KEY_STORAGE, key);
  },
  signOut(): void {
    sessionStorage.removeItem(KEY_STORAGE);
  },
};

/** Called when the API answers 401 to a signed-in call: the key was revoked. */
let onUnauthenticated: () => void = () => {};
export const setUnauthenticatedHandler = (handler: () => void): void => {
  onUnauthenticated = handler;
};

/**
 * The key's read budget as the API reports it (`RateLimit-*` headers): live updates poll,
 * and polls hold back while less than a fifth of the minute's reads is left, so that the
 * dashboard never runs its key into 429s and clicks always have reads to spend.
 */
const readBudget = { limit: Infinity, remaining: Infinity, resetAt: 0 };

export function pollingAllowed(now = Date.now()): boolean {
  if (now >= readBudget.resetAt) return true;
  return readBudget.remaining > Math.max(5, readBudget.limit / 5);
}

function noteBudget(method: string, response: Response): void {
  if (method !== 'GET') return;
  const limit = Number(response.headers.get('ratelimit-limit'));
  const remaining = Number(response.headers.get('ratelimit-remaining'));
  const reset = Number(response.headers.get('ratelimit-reset'));
  if (!response.headers.has('ratelimit-remaining') || !Number.isFinite(remaining)) return;
  readBudget.limit = Number.isFinite(limit) && limit > 0 ? limit : Infinity;
  readBudget.remaining = remaining;
  readBudget.resetAt = Date.now() + (Number.isFinite(reset) ? reset : 60) * 1000;
}

type Query = Record<string, string | number | undefined>;

function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

export async function request<T>(
  method: string,
  path: string,
  options: { body?: unknown; query?: Query; key?: string } = {},
): Promise<T> {
  const key = options.key ?? session.key();
  const headers: Record<string, string> = { accept: 'application/json' };
  if (key) headers.authorization = `Bearer ${key}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(withQuery(path, options.query), {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  noteBudget(method, response);
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
    if (response.status === 401 && options.key === undefined) onUnauthenticated();
    throw new ApiError(
      response.status,
      error?.code ?? `HTTP_${response.status}`,
      error?.message ?? `${method} ${path} answered ${response.status}`,
    );
  }
  return parsed as T;
}

const enc = encodeURIComponent;

export const api = {
  /** Checks a key before keeping it: any authenticated read will do. */
  checkKey: (key: string) => request<unknown>('GET', '/v1/workflows', { key, query: { limit: 1 } }),
  listWorkflows: (query: Query = { limit: 500 }) =>
    request<{ data: Workflow[] }>('GET', '/v1/workflows', { query }).then((r) => r.data),
  getWorkflow: (id: string) => request<Workflow>('GET', `/v1/workflows/${enc(id)}`),
  createWorkflow: (body: Record<string, unknown>) => request<Workflow>('POST', '/v1/workflows', { body }),
  activate: (id: string) => request<unknown>('POST', `/api/v1/workflows/${enc(id)}/activate`),
  deactivate: (id: string) => request<unknown>('POST', `/api/v1/workflows/${enc(id)}/deactivate`),
  runWorkflow: (id: string, input: Record<string, unknown>) =>
    request<{ jobId: string }>('POST', `/v1/workflows/${enc(id)}/run`, { body: { input } }),
  listRuns: (query: Query) => request<{ data: Job[] }>('GET', '/v1/runs', { query }).then((r) => r.data),
  getRun: (id: string) => request<RunDetail>('GET', `/v1/runs/${enc(id)}`),
  deliveries: (id: string) =>
    request<{ data: Delivery[] }>('GET', `/v1/runs/${enc(id)}/deliveries`).then((r) => r.data),
  cancelRun: (workflowId: string, runId: string) =>
    request<{ cancelledJobIds: string[] }>('POST', `/v1/workflows/${enc(workflowId)}/cancel`, {
      body: { jobId: runId },
    }),
  schedules: (workflowId: string) =>
    request<{ data: Schedule[] }>('GET', '/v1/schedules', { query: { workflowId, limit: 100 } }).then(
      (r) => r.data,
    ),
  summary: (workflowId: string, query: Query) =>
    request<WorkflowSummary>('GET', `/v1/workflows/${enc(workflowId)}/summary`, { query }),
  timeline: (workflowId: string, query: Query) =>
    request<WorkflowTimeline>('GET', `/v1/workflows/${enc(workflowId)}/summary/timeline`, { query }),
  /** The summary over every run of the org, whichever its workflow. */
  orgSummary: (query: Query) => request<OrgSummary>('GET', '/v1/summary', { query }),
  /** The timeline over every run of the org, whichever its workflow. */
  orgTimeline: (query: Query) => request<WorkflowTimeline>('GET', '/v1/summary/timeline', { query }),
  /** The org's plan and balance; one ledger entry, the fewest the route sends, as none is shown. */
  credits: () => request<CreditAccount>('GET', '/v1/credits', { query: { limit: 1 } }),
  explore: () =>
    request<{ workflows: Listing[]; total: number }>('GET', '/api/v1/workflows/explore', {
      query: { limit: 100 },
    }),
  community: () =>
    request<{ workflows: Listing[]; total: number }>('GET', '/api/v1/workflows/community', {
      query: { limit: 100 },
    }),
  install: (listingId: string) =>
    request<{ id: string; title: string }>('POST', `/api/v1/workflows/${enc(listingId)}/install`, {
      body: {},
    }),
  instances: () =>
    request<{ instances?: Instance[]; instance?: Instance }>('POST', '/api/agents/tools/instance', {
      body: { action: 'read', limit: 100 },
    }),
  createInstance: (activity: string, name?: string) =>
    request<{ instance: Instance }>('POST', '/api/agents/tools/instance', {
      body: { action: 'create', activity, ...(name ? { name } : {}) },
    }),
};
