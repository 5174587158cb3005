import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BODY_LIMIT_BYTES } from '../../src/api/server.js';
import { MAX_JSON_DEPTH } from '../../src/domain/json-depth.js';
import { json, startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../support/postgres.js';

// A seeded fuzz of bad request bodies against every route that takes one. Each body is one step
// away from a valid body (which the last test proves valid), generated from the route's own JSON
// schema in /openapi.json plus hand-written values the services refuse. Whatever arrives: a 4xx
// with our error body, never a 5xx, and nothing stored. Reproduce with FUZZ_SEED=<seed>.

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed_2026);
const BODIES_PER_ROUTE = 60;
/** Deep, yet inside the depth bound, so the checks behind it still see these bodies. */
const DEPTH = MAX_JSON_DEPTH - 2;
const HUGE = 'x'.repeat(512 * 1024);
const FUTURE = '2099-01-01T09:00:00Z';

type Method = 'POST' | 'PUT' | 'PATCH' | 'DELETE';
type Json = Record<string, unknown>;

interface JsonSchema {
  type?: string | string[];
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  enum?: unknown[];
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  pattern?: string;
  format?: string;
}

/** One bad request: the exact bytes and content type sent, and the error code when it is certain. */
interface BadBody {
  name: string;
  payload?: string | Buffer;
  /** null: no Content-Type header at all. */
  contentType?: string | null;
  code?: string;
}

interface Fixture {
  workflowId: string;
  /** The workflow regenerate-steps addresses; a regeneration leaves it generating, so it is replaced. */
  regenerateId: string;
  newWorkflow(): Promise<string>;
  runId: string;
  /** The run POST /v1/runs/{id}/cancel addresses; a cancel ends it, so it is replaced. */
  cancelRunId: string;
  newRun(): Promise<string>;
  scheduleId: string;
  keyId: string;
  secretName: string;
  secretValue: string;
}

interface Target {
  method: Method;
  /** As the OpenAPI document writes it. */
  path: string;
  url: (f: Fixture) => string;
  /** A body the route accepts; every bad body is this with one thing broken. */
  valid: (f: Fixture) => Json;
  /** Fields where any string is accepted and ignored (read-only fields sent back on PUT). */
  anyString?: string[];
  /** Well-typed values the services refuse, each merged into the valid body. */
  refused?: (f: Fixture) => Json[];
  /** Overrides that carry `text` into free-form strings the field-by-field salting cannot reach. */
  deepText?: (text: string) => Json[];
  /** Run before each valid-body request, when an accepted one leaves the fixture unable to accept another. */
  prepare?: (f: Fixture) => Promise<void>;
}

const step = { id: 'greet', tool: 'log', params: { message: 'hi' } };
const workflowRefusals = (triggerField: string): Json[] => [
  { slug: '1-starts-with-a-digit' },
  { steps: [{ id: 'a', tool: 'no-such-tool' }] },
  { steps: [step, step] },
  { steps: [{ id: '9bad id', tool: 'log' }] },
  { title: '   ' },
  { [triggerField]: { type: 'scheduled' } },
  { [triggerField]: { type: 'scheduled', schedule: 'every day at nine' } },
  { [triggerField]: { type: 'scheduled', schedule: '* * * * *', timezone: 'Mars/Phobos' } },
  { [triggerField]: { type: 'event' } },
  { [triggerField]: { type: 'telepathy' } },
];

/** A step's params and an event trigger's filters: free-form JSON, stored as is. */
const workflowDeepText = (triggerField: string, text: string): Json[] => [
  { steps: [{ ...step, params: { message: `hi ${text}`, [`key ${text}`]: 1 } }] },
  { [triggerField]: { type: 'event', event_type: 'fuzz.event', filters: { from: `a ${text}` } } },
];

/** Every route with a request body, read from the route files (and checked against /openapi.json). */
const TARGETS: Target[] = [
  {
    method: 'POST',
    path: '/v1/workflows',
    url: () => '/v1/workflows',
    valid: () => ({
      title: 'Fuzz base',
      description: 'valid',
      slug: 'fuzzBaseV1',
      steps: [step],
      timeoutMs: 60_000,
      callbackUrl: 'https://client.example.com/cb',
      webhook: { url: 'https://client.example.com/wh' },
      endCall: { phrases: ['bye'] },
      creditCost: 1,
      triggerConfig: { type: 'manual', enabled: true },
      status: 'active',
    }),
    refused: () => [
      ...workflowRefusals('triggerConfig'),
      { creditCost: 2_000_000 },
      { timeoutMs: 31 * 86_400_000 },
      { callbackUrl: 'ftp://client.example.com/cb' },
      { callbackUrl: 'javascript:alert(1)' },
    ],
    deepText: (text) => workflowDeepText('triggerConfig', text),
  },
  {
    method: 'PATCH',
    path: '/v1/workflows/{id}',
    url: (f) => `/v1/workflows/${f.workflowId}`,
    valid: () => ({ title: 'Fuzz patched', steps: [step], triggerConfig: { type: 'manual' } }),
    refused: () => [...workflowRefusals('triggerConfig'), { creditCost: -1 }],
    deepText: (text) => workflowDeepText('triggerConfig', text),
  },
  {
    method: 'POST',
    path: '/v1/workflows/{id}/run',
    url: (f) => `/v1/workflows/${f.workflowId}/run`,
    valid: () => ({ input: { a: 1, note: 'n' }, idempotencyKey: 'fuzz-run' }),
  },
  {
    method: 'POST',
    path: '/v1/workflows/{id}/cancel',
    url: (f) => `/v1/workflows/${f.workflowId}/cancel`,
    valid: (f) => ({ jobId: f.runId }),
    refused: () => [{ jobId: 'run_does_not_exist' }],
  },
  {
    method: 'POST',
    path: '/v1/runs/{id}/cancel',
    url: (f) => `/v1/runs/${f.cancelRunId}/cancel`,
    prepare: async (f) => {
      f.cancelRunId = await f.newRun();
    },
    valid: () => ({ cascade: false, reason: 'fuzz' }),
    refused: () => [{ cascade: 'yes' }, { reason: '' }],
  },
  {
    method: 'POST',
    path: '/v1/workflows/schedule',
    url: () => '/v1/workflows/schedule',
    valid: (f) => ({
      workFlowId: f.workflowId,
      scheduledDate: FUTURE,
      timezone: 'UTC',
      input: { a: 1, note: 'n' },
    }),
    refused: () => [
      { scheduledDate: '2001-01-01T00:00:00Z' },
      { scheduledDate: '2099-02-30T09:00:00' },
      { scheduledDate: '2099-01-01T25:00:00Z' },
      { scheduledDate: 'tomorrow at nine' },
      { scheduledDate: '0000-01-01' },
      { timezone: 'Mars/Phobos' },
      { timezone: 'GMT_plus_15' },
      { timezone: '../../etc/passwd' },
      { workFlowId: 'wf_does_not_exist' },
    ],
  },
  {
    method: 'POST',
    path: '/api/v1/workflows',
    url: () => '/api/v1/workflows',
    valid: () => ({
      title: 'Fuzz base',
      description: 'valid',
      trigger_config: { type: 'manual', enabled: true },
      steps: [step],
      status: 'active',
      slug: 'fuzzBaseApiV1',
      is_public: false,
      generate_immediately: false,
    }),
    refused: () => workflowRefusals('trigger_config'),
    deepText: (text) => workflowDeepText('trigger_config', text),
  },
  {
    method: 'PUT',
    path: '/api/v1/workflows/{workflow_id}',
    url: (f) => `/api/v1/workflows/${f.workflowId}`,
    valid: (f) => ({
      id: f.workflowId,
      title: 'Fuzz put',
      description: null,
      trigger_config: { type: 'manual', enabled: true },
      steps: [step],
      status: 'inactive',
      version: 1,
      created_at: null,
      updated_at: null,
    }),
    anyString: ['created_at', 'updated_at'],
    refused: () => [...workflowRefusals('trigger_config'), { id: 'wf_some_other_workflow' }],
    deepText: (text) => workflowDeepText('trigger_config', text),
  },
  {
    method: 'POST',
    path: '/api/v1/workflows/{workflow_id}/execute',
    url: (f) => `/api/v1/workflows/${f.workflowId}/execute`,
    valid: () => ({ context: { a: 1, note: 'n' } }),
  },
  {
    method: 'POST',
    path: '/api/v1/workflows/{workflow_id}/regenerate-steps',
    url: (f) => `/api/v1/workflows/${f.regenerateId}/regenerate-steps`,
    valid: () => ({ reason: 'Need different approach', force_different_tools: true }),
    // Without a worker an accepted regeneration stays generating, and a second one is a 409.
    prepare: async (f) => {
      f.regenerateId = await f.newWorkflow();
    },
  },
  {
    method: 'POST',
    path: '/api/v1/workflows/from-todo',
    url: () => '/api/v1/workflows/from-todo',
    valid: () => ({
      todo_id: 'todo_123',
      todo_title: 'Plan team offsite',
      todo_description: 'Organize company retreat for 50 people',
    }),
  },
  {
    method: 'POST',
    path: '/api/v1/workflows/{workflow_id}/install',
    url: () => '/api/v1/workflows/tpl_stopRobot/install',
    valid: () => ({ slug: 'fuzzInstalled', title: 'Fuzz installed' }),
    refused: () => [{ slug: '9starts-with-a-digit' }, { title: '   ' }],
  },
  {
    method: 'POST',
    path: '/v1/events',
    url: () => '/v1/events',
    valid: () => ({ type: 'fuzz.event', data: { a: 1, note: 'n' } }),
  },
  {
    method: 'POST',
    path: '/v1/admin/keys',
    url: () => '/v1/admin/keys',
    valid: () => ({ org: 'fuzz-org', site: 'fuzz-site', scopes: ['workflows:read'], name: 'fuzz' }),
    refused: () => [{ scopes: ['root'] }, { scopes: ['admin', 'workflows:everything'] }],
  },
  {
    method: 'POST',
    path: '/v1/admin/orgs/{id}/credits',
    url: () => '/v1/admin/orgs/default/credits',
    valid: () => ({ amount: 5, reason: 'fuzz' }),
    refused: () => [{ amount: 0 }, { amount: 1.5 }, { amount: '5' }, { amount: 5, reason: 'r'.repeat(501) }],
  },
  {
    method: 'PUT',
    path: '/v1/admin/orgs/{id}/plan',
    url: () => '/v1/admin/orgs/default/plan',
    // The plan org `default` is on already, so a body that passes changes nothing.
    valid: () => ({ plan: 'unlimited' }),
    refused: () => [{ plan: 'gold' }, { plan: '' }, { plan: 'p'.repeat(51) }, { plan: 'free', org: 'other' }],
  },
  {
    method: 'PUT',
    path: '/v1/secrets/{name}',
    url: () => '/v1/secrets/FUZZ_SECRET',
    valid: () => ({ value: 'fuzz' }),
    refused: () => [{ value: 'v'.repeat(70_000) }],
  },
  {
    method: 'POST',
    path: '/api/agents/tools/instance',
    url: () => '/api/agents/tools/instance',
    valid: () => ({ action: 'create', activity: 'Fuzz instance', name: 'Fuzz' }),
    refused: () => [{ activity: '   ' }, { site_id: 'site_does_not_exist' }, { name: ' ' }],
  },
];

/**
 * Routes whose body is open by their document, so an unknown field is input, not a mistake:
 * document 000's action dialect (the fields are the action's own). test/api/action-dialect.test.ts
 * tests what they refuse.
 */
const OPEN_BODIES = ['POST /api/workflow/{action}'];

// ---------------------------------------------------------------------------------------------
// The generator: seeded, deterministic, no dependencies.

interface Rng {
  next(): number;
  int(below: number): number;
  pick<T>(items: readonly T[]): T;
}

/** mulberry32: small, fast, good enough to pick cases reproducibly. */
function rng(seed: number): Rng {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const int = (below: number) => Math.floor(next() * below);
  return { next, int, pick: (items) => items[int(items.length)]! };
}

/** A string hash, so each route gets its own stream from the one seed. */
const hash = (text: string): number =>
  [...text].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16_777_619), 2_166_136_261);

const ODD_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\ud800',
  '"\'`',
  '{{ secrets.X }}',
  '../../x',
  '💥',
  '\u202e',
  'null',
];

function randomJson(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 2 ? 4 : 6)) {
    case 0:
      return r.pick(ODD_STRINGS) + r.int(1000);
    case 1:
      return r.pick([0, -1, 1.5, 2 ** 53 + 2, -1e308, 1e-300]);
    case 2:
      return r.next() < 0.5;
    case 3:
      return null;
    case 4:
      return Array.from({ length: r.int(4) }, () => randomJson(r, depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: r.int(4) }, () => [`k${r.int(100)}`, randomJson(r, depth + 1)]),
      );
  }
}

function deep(depth: number, leaf: unknown = 'bottom'): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i += 1) value = { a: value };
  return value;
}

function deepArray(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

const typesOf = (schema: JsonSchema): Set<string> => {
  const types = new Set<string>();
  for (const part of schema.anyOf ?? [schema]) {
    for (const type of [part.type ?? []].flat()) types.add(type === 'integer' ? 'number' : type);
  }
  return types;
};
const objectPart = (schema: JsonSchema): JsonSchema | undefined =>
  (schema.anyOf ?? [schema]).find((part) => typesOf(part).has('object'));
const primary = (schema: JsonSchema): JsonSchema =>
  (schema.anyOf ?? [schema]).find((part) => !typesOf(part).has('null')) ?? schema;
/** A record of anything: any object is valid there, however deep. */
const isFreeForm = (schema: JsonSchema): boolean => {
  const part = objectPart(schema);
  return !!part && !part.properties && part.additionalProperties !== false;
};

const SAMPLES: Record<string, unknown> = {
  string: 'fuzz',
  number: 42,
  boolean: true,
  null: null,
  array: [],
  object: { wrong: 'shape' },
};

/** One way a field can be wrong. `kind` groups them, so each route gets every kind at least once. */
interface WrongValue {
  kind: string;
  prop: string;
  label: string;
  value: unknown;
}

/** Values of `prop` that its schema refuses, one per way of being wrong. */
function wrongValues(prop: string, schema: JsonSchema, valid: unknown, anyString: boolean): WrongValue[] {
  const types = typesOf(schema);
  if (types.size === 0) return []; // accepts anything
  const out: WrongValue[] = [];
  const add = (kind: string, label: string, value: unknown) =>
    out.push({ kind, prop, label: `${prop} ${label}`, value });
  for (const [type, sample] of Object.entries(SAMPLES)) {
    if (!types.has(type)) add('type', `as ${type}`, sample);
  }
  const main = primary(schema);
  if (types.has('number')) {
    add('numeric string', 'as a numeric string', String(valid ?? 1));
    if ([main.type].flat().includes('integer')) add('fraction', 'as a fraction', 1.5);
    if (main.minimum !== undefined) add('range', 'below its minimum', main.minimum - 1);
    if (main.maximum !== undefined) add('range', 'above its maximum', main.maximum + 1);
  }
  if (types.has('string')) {
    if ((main.minLength ?? 0) > 0) add('empty', 'empty', '');
    if (!anyString) add('huge', `of ${HUGE.length} characters`, HUGE);
    if (main.enum) add('enum', 'not in its enum', 'NOT_A_CHOICE');
    if (main.pattern) add('pattern', 'against its pattern', '!! no !!');
    if (main.format === 'uri') add('format', 'not a URL', 'not a url at all');
  }
  if (types.has('array')) {
    if ((main.minItems ?? 0) > 0) add('items', 'with no items', []);
    const item = Array.isArray(valid) && valid.length > 0 ? valid[0] : 'x';
    if (main.maxItems !== undefined) add('items', 'over maxItems', Array(main.maxItems + 1).fill(item));
    if (main.items && typesOf(main.items).size > 0) {
      const itemTypes = typesOf(main.items);
      const wrong = Object.entries(SAMPLES).find(([type]) => !itemTypes.has(type) && type !== 'null');
      if (wrong) add('items', `with a ${wrong[0]} item`, [wrong[1]]);
    }
  }
  if (types.has('object') && !isFreeForm(schema)) {
    add('array for object', 'as an array of itself', [valid]);
    add('deep', `nested ${DEPTH} deep`, deep(DEPTH));
    const part = objectPart(schema)!;
    if (valid && typeof valid === 'object') {
      if (part.additionalProperties === false)
        add('inner key', 'with an unknown key', { ...(valid as Json), unknownInner: 1 });
      for (const key of part.required ?? []) {
        const { [key]: _dropped, ...rest } = valid as Json;
        add('inner required', `without ${key}`, rest);
      }
    }
  }
  return out;
}

const jsonBody = (name: string, body: unknown, code?: string): BadBody => ({
  name,
  payload: JSON.stringify(body),
  contentType: 'application/json',
  code,
});
const raw = (
  name: string,
  payload: string | Buffer,
  code?: string,
  contentType = 'application/json',
): BadBody => ({
  name,
  payload,
  contentType,
  code,
});

/** A JSON object text of exactly `bytes` bytes: `{"<key>":"xxx…"}`. */
function sized(bytes: number, key = 'padding'): string {
  const frame = `{"${key}":""}`.length;
  return `{"${key}":"${'x'.repeat(bytes - frame)}"}`;
}

/** ~BODIES_PER_ROUTE bad bodies for one route: every category once, then seeded picks and mixes. */
function badBodies(target: Target, schema: JsonSchema, f: Fixture, seed: number): BadBody[] {
  const r = rng(seed ^ hash(`${target.method} ${target.path}`));
  const valid = target.valid(f);
  const validText = JSON.stringify(valid);
  const rest = validText.slice(1); // `"a":1,…}`: the valid body without its opening brace
  const nullable = typesOf(schema).has('null');
  const object = objectPart(schema)!;
  const props = object.properties ?? {};
  const required = object.required ?? [];
  const firstProp = Object.keys(valid)[0]!;

  const must: BadBody[] = [
    // the whole body of the wrong JSON type
    jsonBody('an array', []),
    jsonBody('the valid body inside an array', [valid]),
    jsonBody('a string', 'fuzz'),
    jsonBody('a number', 42),
    jsonBody('a boolean', true),
    jsonBody('the valid body as a JSON string', validText),
    jsonBody(`${DEPTH} nested objects`, deep(DEPTH)),
    raw(`${DEPTH} nested arrays`, deepArray(DEPTH)),
    jsonBody(`${MAX_JSON_DEPTH + 1} nested objects`, deep(MAX_JSON_DEPTH + 1), 'BODY_TOO_DEEP'),
    // Written as text: JSON.stringify itself runs out of stack on values this deep.
    raw('5000 nested arrays', deepArray(5000), 'BODY_TOO_DEEP'),
    raw(
      'an unknown field nested 5000 deep',
      `${validText.slice(0, -1)},"nested":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`,
      'BODY_TOO_DEEP',
    ),
    // unknown extra fields
    jsonBody('an unknown field', { ...valid, unknownField: 1 }, 'VALIDATION_FAILED'),
    jsonBody('an org_id field', { ...valid, org_id: 'org_someone_else' }, 'VALIDATION_FAILED'),
    jsonBody(`an unknown field nested ${DEPTH} deep`, { ...valid, nested: deep(DEPTH) }, 'VALIDATION_FAILED'),
    jsonBody('an unknown field holding a NUL and a lone surrogate', { ...valid, 'x\u0000\ud800': '\u0000' }),
    // prototype pollution: refused by the JSON parser itself
    raw('__proto__ at the top', `{"__proto__":{"polluted":"yes"},${rest}`, 'INVALID_JSON'),
    raw(
      'constructor.prototype at the top',
      `{"constructor":{"prototype":{"polluted":"yes"}},${rest}`,
      'INVALID_JSON',
    ),
    raw(
      `__proto__ inside ${firstProp}`,
      JSON.stringify({ ...valid, [firstProp]: '@@' }).replace('"@@"', '{"__proto__":{"polluted":"yes"}}'),
      'INVALID_JSON',
    ),
    // not JSON, though it says so
    raw('plain text', 'not json', 'INVALID_JSON'),
    raw('a cut-off object', validText.slice(0, -3), 'INVALID_JSON'),
    raw('single quotes', "{'title':'x'}", 'INVALID_JSON'),
    raw('a trailing comma', `${validText.slice(0, -1)},}`, 'INVALID_JSON'),
    raw('NaN', 'NaN', 'INVALID_JSON'),
    raw('two objects', `${validText}${validText}`, 'INVALID_JSON'),
    raw('XML', '<workflow title="x"/>', 'INVALID_JSON'),
    raw('a BOM before garbage', '\ufeff{nope}', 'INVALID_JSON'),
    raw('a NUL byte', '\u0000', 'INVALID_JSON'),
    // invalid UTF-8
    raw('invalid UTF-8 outside strings', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'INVALID_JSON'),
    raw(
      'invalid UTF-8 in an unknown key',
      Buffer.concat([Buffer.from(`{"k`), Buffer.from([0xc0, 0xaf, 0xff]), Buffer.from(`":1,${rest}`)]),
      'VALIDATION_FAILED',
    ),
    raw(
      'invalid UTF-8 in a value, plus an unknown key',
      Buffer.concat([
        Buffer.from(`{"unknownField":"`),
        Buffer.from([0xed, 0xa0, 0x80, 0xf8]),
        Buffer.from(`",${rest}`),
      ]),
      'VALIDATION_FAILED',
    ),
    raw(
      'a truncated UTF-8 sequence at the end',
      Buffer.concat([Buffer.from(validText.slice(0, -1)), Buffer.from([0xe2, 0x82])]),
      'INVALID_JSON',
    ),
    // size
    raw('one byte over the 1 MiB limit', sized(BODY_LIMIT_BYTES + 1), 'BODY_TOO_LARGE'),
    raw(
      'the valid body padded over the limit',
      `{"pad":"${'y'.repeat(BODY_LIMIT_BYTES)}",${rest}`,
      'BODY_TOO_LARGE',
    ),
    raw('exactly 1 MiB of an unknown field', sized(BODY_LIMIT_BYTES), 'VALIDATION_FAILED'),
    // the wrong content type
    raw(
      'a form body',
      'title=x&status=active',
      'UNSUPPORTED_MEDIA_TYPE',
      'application/x-www-form-urlencoded',
    ),
    raw('multipart', '--b\r\n\r\nx\r\n--b--', 'UNSUPPORTED_MEDIA_TYPE', 'multipart/form-data; boundary=b'),
    raw('the valid body as text/plain', validText, 'VALIDATION_FAILED', 'text/plain'),
    // numbers JSON.stringify cannot write
    raw(`${firstProp} = 1e400`, JSON.stringify({ ...valid, [firstProp]: '@@' }).replace('"@@"', '1e400')),
  ];
  if (!nullable) {
    must.push(
      jsonBody('null', null),
      raw('an empty body', '', 'VALIDATION_FAILED'),
      raw('only whitespace', ' \n\t ', 'VALIDATION_FAILED'),
      { name: 'no body and no content type', contentType: null, code: 'VALIDATION_FAILED' },
    );
  }
  if (required.length > 0) {
    must.push(jsonBody('an empty object', {}, 'VALIDATION_FAILED'));
    for (const prop of required) {
      const { [prop]: _dropped, ...without } = valid;
      must.push(jsonBody(`without ${prop}`, without, 'VALIDATION_FAILED'));
    }
  }

  // Per field: one wrong JSON type each; then one of every other kind of wrong value, on a
  // seeded pick of field; then seeded picks of the rest.
  const wrong = Object.entries(props).flatMap(([prop, schema]) =>
    wrongValues(prop, schema, valid[prop], target.anyString?.includes(prop) ?? false),
  );
  const pool = [...wrong];
  const take = (candidates: WrongValue[]): void => {
    if (candidates.length === 0) return;
    const chosen = r.pick(candidates);
    pool.splice(pool.indexOf(chosen), 1);
    must.push(jsonBody(chosen.label, { ...valid, [chosen.prop]: chosen.value }));
  };
  for (const prop of Object.keys(props)) take(pool.filter((w) => w.prop === prop && w.kind === 'type'));
  for (const kind of new Set(pool.map((w) => w.kind))) take(pool.filter((w) => w.kind === kind));
  const maybe = pool.map((w) => jsonBody(w.label, { ...valid, [w.prop]: w.value }));
  for (const refused of target.refused?.(f) ?? []) {
    must.push(jsonBody(`refused: ${JSON.stringify(refused).slice(0, 80)}`, { ...valid, ...refused }));
  }

  const cases = [...must];
  while (cases.length < BODIES_PER_ROUTE && maybe.length > 0)
    cases.push(...maybe.splice(r.int(maybe.length), 1));
  // Then mixes: two wrong fields at once, or a random unknown field, with seeded random JSON.
  while (cases.length < BODIES_PER_ROUTE) {
    if (wrong.length > 1 && r.next() < 0.5) {
      const a = r.pick(wrong);
      const b = r.pick(wrong.filter((candidate) => candidate.prop !== a.prop));
      if (b) {
        cases.push(jsonBody(`${a.label} + ${b.label}`, { ...valid, [a.prop]: a.value, [b.prop]: b.value }));
        continue;
      }
    }
    const key = `${r.pick(['x', 'Title', 'is_admin', 'scopes_', '$where', 'org'])}${r.int(100)}`;
    cases.push(
      jsonBody(`random unknown field ${key}`, { ...valid, [key]: randomJson(r) }, 'VALIDATION_FAILED'),
    );
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------

/** What an answer to a bad request must not be, or null when it is a proper 4xx. */
function problemWith(response: LightMyRequestResponse, bad: BadBody, authenticated: boolean): string | null {
  const status = response.statusCode;
  if (status >= 500) return `status ${status} (a 5xx is a bug): ${response.body.slice(0, 300)}`;
  if (status < 400) return `status ${status}: a bad body was accepted: ${response.body.slice(0, 300)}`;
  const shape = errorShapeProblem(response);
  if (shape) return shape;
  const { code } = json<{ error: { code: string } }>(response).error;
  // Without a key the answer is a 401, or the 4xx of a body refused before authentication.
  if (authenticated && bad.code && code !== bad.code) {
    return `code ${code}, expected ${bad.code}: ${response.body.slice(0, 300)}`;
  }
  return null;
}

/** `{ error: { code, message } }`, plus `field` for VALIDATION_FAILED; null when it is so. */
function errorShapeProblem(response: LightMyRequestResponse): string | null {
  let body: { error?: { code?: unknown; message?: unknown; field?: unknown } };
  try {
    body = json(response);
  } catch {
    return `status ${response.statusCode} with a body that is not JSON: ${response.body.slice(0, 200)}`;
  }
  const error = body.error;
  if (!error || typeof error.code !== 'string' || typeof error.message !== 'string' || error.message === '') {
    return `status ${response.statusCode} without { error: { code, message } }: ${response.body.slice(0, 300)}`;
  }
  if (error.code === 'VALIDATION_FAILED' && (typeof error.field !== 'string' || error.field === '')) {
    return `VALIDATION_FAILED without a field: ${response.body.slice(0, 300)}`;
  }
  return null;
}

function describeRequest(method: string, url: string, bad: BadBody): string {
  const payload = bad.payload;
  const shown =
    payload === undefined
      ? '(none)'
      : Buffer.isBuffer(payload)
        ? `hex ${payload.toString('hex').slice(0, 160)}`
        : JSON.stringify(payload.length > 160 ? `${payload.slice(0, 160)}…` : payload);
  const size = payload === undefined ? 0 : Buffer.byteLength(payload);
  return `${method} ${url} [${bad.name}] content-type=${bad.contentType ?? '(none)'} bytes=${size} body=${shown}`;
}

const pollutedPrototype = (): boolean =>
  'polluted' in Object.prototype || ({} as Record<string, unknown>).polluted !== undefined;

/** Strings JavaScript holds but a database may refuse or rewrite. */
const HOSTILE_TEXT = [
  'nul \u0000 inside',
  'lone \ud800 high',
  'lone \udfff low',
  'reversed \udc00\ud800 pair',
];

/** Percent-encoded UTF-8; an unpaired surrogate, which UTF-8 cannot hold, as the bytes of its code unit. */
function uriEncoded(text: string): string {
  return [...text]
    .map((char) => {
      try {
        return encodeURIComponent(char);
      } catch {
        const unit = char.charCodeAt(0);
        const bytes = [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)];
        return bytes.map((byte) => `%${byte.toString(16).toUpperCase()}`).join('');
      }
    })
    .join('');
}

/** `value` with `text` put into every string of it, however deep. */
function salted(value: unknown, text: string): unknown {
  if (typeof value === 'string') return `${value}${text}`;
  if (Array.isArray(value)) return value.map((item) => salted(item, text));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, salted(inner, text)]));
  }
  return value;
}

const BACKENDS = [
  { name: 'SQLite', databaseUrl: undefined },
  // Skipped unless STEPWISE_TEST_DATABASE_URL names a PostgreSQL that may create databases.
  { name: 'PostgreSQL', databaseUrl: testDatabaseUrl },
];

describe.each(BACKENDS)(`bad bodies on $name (seed ${SEED})`, (backend) => {
  const skip = backend.name === 'PostgreSQL' && !testDatabaseUrl;
  let h: ApiHarness;
  let db: TestDatabase | null = null;
  let f: Fixture;
  let bodySchemas = new Map<string, JsonSchema>();
  let bodyless: { method: Method; path: string }[] = [];
  const admin = (): Record<string, string> => ({ authorization: `Bearer ${h.adminKey}` });

  beforeAll(async () => {
    if (skip) return;
    db = backend.databaseUrl ? await createTestDatabase() : null;
    // No worker, no scheduler: the stored state moves only when a request moves it.
    h = await startApiHarness({ worker: false, ...(db ? { databaseUrl: db.url } : {}) });
    const orgId = h.orgId;
    const workflow = await h.stepwise.workflows.create(orgId, { title: 'Fuzz target', steps: [step] });
    const { run } = await h.stepwise.runs.start(orgId, workflow.id, { trigger: { type: 'api' } });
    const schedule = await h.stepwise.schedules.scheduleOnce(orgId, workflow.id, { scheduledDate: FUTURE });
    const key = await h.stepwise.keys.create({ orgName: 'default', scopes: ['workflows:read'] });
    await h.stepwise.secrets.put(orgId, 'FUZZ_SECRET', 'original');
    const newWorkflow = async () =>
      (await h.stepwise.workflows.create(orgId, { title: 'Fuzz regenerate', steps: [step] })).id;
    const newRun = async () =>
      (await h.stepwise.runs.start(orgId, workflow.id, { trigger: { type: 'api' } })).run.id;
    f = {
      workflowId: workflow.id,
      regenerateId: await newWorkflow(),
      newWorkflow,
      runId: run.id,
      cancelRunId: await newRun(),
      newRun,
      scheduleId: schedule.id,
      keyId: key.id,
      secretName: 'FUZZ_SECRET',
      secretValue: 'original',
    };

    const document = json<{
      paths: Record<
        string,
        Record<string, { requestBody?: { content: Record<string, { schema: JsonSchema }> } }>
      >;
    }>(await h.app.inject({ method: 'GET', url: '/openapi.json' }));
    bodySchemas = new Map();
    bodyless = [];
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const upper = method.toUpperCase() as Method;
        if (!['POST', 'PUT', 'PATCH', 'DELETE'].includes(upper)) continue;
        const schema = operation.requestBody?.content['application/json']?.schema;
        if (schema) bodySchemas.set(`${upper} ${path}`, schema);
        else bodyless.push({ method: upper, path });
      }
    }
  });
  afterAll(async () => {
    await h?.close();
    await db?.drop();
  });

  /** Everything stored, in every org this file touches: any write by a bad request shows up here. */
  async function snapshot(): Promise<Json> {
    const store = h.stepwise.store;
    const page = { limit: 100_000, offset: 0 };
    const orgs: Json = {};
    for (const name of ['default', 'fuzz-org', 'org_someone_else']) {
      const org = await store.getOrgByName(name);
      if (!org) {
        orgs[name] = null;
        continue;
      }
      const secrets = await store.listSecretNames(org.id);
      orgs[name] = {
        plan: org.plan,
        workflows: (await store.listWorkflows(org.id, page)).map((w) => [
          w.id,
          w.version,
          w.status,
          w.updated_at,
        ]),
        runs: (await store.listRuns({ org_id: org.id, ...page })).map((r) => [
          r.id,
          r.status,
          r.cancel_requested,
        ]),
        schedules: (await store.schedules.listSchedules({ org_id: org.id, ...page })).map((s) => [
          s.id,
          s.status,
          s.updated_at,
        ]),
        secrets,
        secretValues: await h.stepwise.secrets.resolve(org.id, secrets),
      };
    }
    return { orgs, keys: (await store.listApiKeys()).map((k) => [k.id, k.org_id, k.revoked_at]) };
  }

  const counts = (state: Json): string => {
    const org = (state.orgs as Record<string, Record<string, unknown[]> | null>).default!;
    const keys = (state.keys as unknown[]).length;
    return `workflows ${org.workflows!.length}, runs ${org.runs!.length}, schedules ${org.schedules!.length}, secrets ${org.secrets!.length}, keys ${keys}`;
  };

  function send(method: Method | 'GET', url: string, bad: BadBody, headers: Record<string, string>) {
    return h.app.inject({
      method,
      url,
      headers: bad.contentType ? { ...headers, 'content-type': bad.contentType } : headers,
      ...(bad.payload === undefined ? {} : { payload: bad.payload }),
    });
  }

  it.skipIf(skip)('the targets are exactly the write routes with a request body in /openapi.json', () => {
    expect([...TARGETS.map((t) => `${t.method} ${t.path}`), ...OPEN_BODIES].sort()).toEqual(
      [...bodySchemas.keys()].sort(),
    );
  });

  it.skipIf(skip).each(TARGETS.map((target) => [`${target.method} ${target.path}`, target] as const))(
    '%s: every bad body is a 4xx with our error body, nothing is stored',
    async (_name, target) => {
      const schema = bodySchemas.get(`${target.method} ${target.path}`)!;
      const bodies = badBodies(target, schema, f, SEED);
      expect(bodies.length).toBeGreaterThanOrEqual(BODIES_PER_ROUTE);
      const url = target.url(f);
      const before = await snapshot();
      const problems: string[] = [];
      for (const bad of bodies) {
        for (const [authenticated, headers] of [
          [true, admin()],
          [false, {}],
        ] as const) {
          const response = await send(target.method, url, bad, headers);
          const problem = problemWith(response, bad, authenticated);
          if (problem) {
            problems.push(
              `${authenticated ? '' : '(no key) '}${describeRequest(target.method, url, bad)}\n  → ${problem}`,
            );
          }
        }
      }
      expect(problems).toEqual([]);
      const after = await snapshot();
      expect(after, `stored state changed: before ${counts(before)}; after ${counts(after)}`).toEqual(before);
      expect(pollutedPrototype()).toBe(false);
    },
  );

  it.skipIf(skip)(
    'write routes without a body schema refuse an unparseable body before acting on it',
    async () => {
      expect(bodyless.length).toBeGreaterThan(0);
      const fill = (path: string): string =>
        path.replace(/\{\w+\}/, () => {
          if (path.startsWith('/v1/schedules/')) return f.scheduleId;
          if (path.startsWith('/v1/admin/keys/')) return f.keyId;
          return f.workflowId;
        });
      const bodies: BadBody[] = [
        raw('plain text', 'not json', 'INVALID_JSON'),
        raw('__proto__', '{"__proto__":{"polluted":"yes"}}', 'INVALID_JSON'),
        raw('constructor.prototype', '{"constructor":{"prototype":{"polluted":"yes"}}}', 'INVALID_JSON'),
        raw('invalid UTF-8 outside strings', Buffer.from([0x7b, 0xff, 0x7d]), 'INVALID_JSON'),
        raw('one byte over the limit', sized(BODY_LIMIT_BYTES + 1), 'BODY_TOO_LARGE'),
        raw(`${DEPTH} nested arrays, cut off`, deepArray(DEPTH).slice(0, -1), 'INVALID_JSON'),
      ];
      const before = await snapshot();
      const problems: string[] = [];
      for (const { method, path } of bodyless) {
        const url = fill(path);
        for (const bad of bodies) {
          const problem = problemWith(await send(method, url, bad, admin()), bad, true);
          if (problem) problems.push(`${describeRequest(method, url, bad)}\n  → ${problem}`);
        }
      }
      expect(problems).toEqual([]);
      expect(await snapshot()).toEqual(before);
      expect(pollutedPrototype()).toBe(false);
    },
  );

  // NUL and unpaired surrogates pass the schemas (they are valid JSON strings); SQLite stores
  // them, PostgreSQL refuses them. Either way: never a 5xx, and a refusal stores nothing.
  it.skipIf(skip)(
    'NUL and unpaired surrogates in ids, queries and every string of a valid body: never a 5xx',
    async () => {
      const problems: string[] = [];
      let unique = 0;
      const check = async (method: Method | 'GET', url: string, bad: BadBody): Promise<void> => {
        const before = await snapshot();
        const response = await send(method, url, bad, admin());
        const where = describeRequest(method, url, bad);
        if (response.statusCode >= 500)
          problems.push(`${where}\n  → ${response.statusCode}: ${response.body.slice(0, 200)}`);
        if (response.statusCode >= 400) {
          const shape = errorShapeProblem(response);
          if (shape) problems.push(`${where}\n  → ${shape}`);
          if (JSON.stringify(await snapshot()) !== JSON.stringify(before))
            problems.push(`${where}\n  → refused, yet stored`);
        }
      };
      for (const text of HOSTILE_TEXT) {
        const id = uriEncoded(`wf_${text}`);
        await check('GET', `/v1/schedules?workflowId=${id}`, { name: 'hostile query' });
        // An unpaired surrogate cannot be in a well-formed URL path at all (the router refuses it,
        // see route-security.test.ts); a NUL can.
        const inPath = !/[\ud800-\udfff]/.test(text);
        for (const url of [
          `/v1/workflows/${id}`,
          `/api/v1/workflows/${id}`,
          `/v1/runs/${id}`,
          `/v1/workflows/jobs/${id}`,
        ]) {
          if (inPath) await check('GET', url, { name: 'hostile id' });
        }
        if (inPath) {
          await check(
            'PUT',
            `/v1/secrets/${uriEncoded(`S${text}`)}`,
            jsonBody('hostile name', { value: 'v' }),
          );
        }
        for (const target of TARGETS) {
          // One field at a time, so no other check refuses the body before the text is stored.
          const valid = target.valid(f);
          for (const field of Object.keys(valid)) {
            const n = (unique += 1);
            const slug = typeof valid.slug === 'string' && field !== 'slug' ? { slug: `hostile${n}` } : {};
            const idempotency = field === 'idempotencyKey' ? {} : { idempotencyKey: `hostile-${n}` };
            const body = {
              ...valid,
              ...slug,
              ...('idempotencyKey' in valid ? idempotency : {}),
              [field]: salted(valid[field], text),
            };
            await target.prepare?.(f);
            await check(target.method, target.url(f), jsonBody(`${field} + ${JSON.stringify(text)}`, body));
          }
          for (const override of target.deepText?.(text) ?? []) {
            const slug = typeof valid.slug === 'string' ? { slug: `hostile${(unique += 1)}` } : {};
            const label = `${Object.keys(override).join()} deep + ${JSON.stringify(text)}`;
            await check(target.method, target.url(f), jsonBody(label, { ...valid, ...slug, ...override }));
          }
        }
      }
      expect(problems).toEqual([]);
    },
  );

  it.skipIf(skip)('the process is alive and serving afterwards', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    const list = await h.app.inject({ method: 'GET', url: '/v1/workflows?limit=500', headers: admin() });
    expect(list.statusCode).toBe(200);
    expect(list.body).toContain(f.workflowId);
  });

  // Last, as it stores things: proves each bad body above was one step from a good one.
  it.skipIf(skip)(
    'every valid base body is accepted, so each bad body was bad for the reason it names',
    async () => {
      for (const target of TARGETS) {
        const valid = target.valid(f);
        await target.prepare?.(f);
        const response = await send(
          target.method,
          target.url(f),
          jsonBody('valid', { ...valid, ...(valid.slug ? { slug: `${String(valid.slug)}Ok` } : {}) }),
          admin(),
        );
        expect(
          response.statusCode,
          `${target.method} ${target.path}: ${response.body.slice(0, 300)}`,
        ).toBeLessThan(300);
      }
    },
  );
});
