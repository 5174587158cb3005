import { z } from 'zod';
import type { TriggerConfig, WorkflowRecord } from './model.js';
import type { TemplateInput } from './template.js';
import { referencedSecrets, templateReferences } from './templating.js';
import type { StepDefinition } from './workflow.js';

// What publishing a workflow to the marketplace keeps, and what it takes out. Nothing of the
// publishing org may reach a public copy: no secret value, no org or site id, no address,
// no callback URL. Values are replaced by references an installer fills in: a secret by
// `{{ secrets.NAME }}` (listed in `required_secrets`), an org-specific value by
// `{{ input.name }}` (declared in `inputs`). Existing `{{ … }}` references are kept: a
// reference is not a value.

/** Param names whose literal values are credentials, compared without case or punctuation. */
const SECRET_PARTS = [
  'authorization',
  'cookie',
  'token',
  'secret',
  'password',
  'passwd',
  'passphrase',
  'apikey',
  'accesskey',
  'privatekey',
  'credential',
  'signature',
  'sessionid',
];
const SECRET_EXACT = new Set(['auth', 'key', 'pin', 'xauth']);
/** Param names whose literal values identify the publisher's org, site or people. */
const ORG_SPECIFIC = new Set([
  'siteid',
  'orgid',
  'organizationid',
  'companyid',
  'accountid',
  'tenantid',
  'workspaceid',
  'userid',
  'customerid',
  'ownerid',
]);
/** Credentials recognisable by their shape, wherever they appear. */
const TOKEN_SHAPES = [
  /\b[spr]k_(?:live|test)_[A-Za-z0-9]{8,}/g,
  /\bsk-[A-Za-z0-9_-]{16,}/g,
  /\bwhsec_[A-Za-z0-9+/=]{8,}/g,
  /\bgh[pousr]_[A-Za-z0-9]{20,}/g,
  /\bxox[abprs]-[A-Za-z0-9-]{10,}/g,
  /\bAKIA[0-9A-Z]{16}\b/g,
  /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g,
];
// Every repetition below either stops at a character the next part needs or is bounded,
// so a megabyte of letters, colons or dots is scanned in linear time, not quadratic.
const URL_CREDENTIALS = /(https?:\/\/)[^\s/@{}:]+:[^\s/@{}]+@/g;
const SECRET_QUERY =
  /([?&](?:api[_-]?key|apikey|token|access_token|key|secret|password|signature|sig)=)([^&#\s{}]+)/gi;
/** Local part at most 64 characters and labels at most 63, as in RFC 5321. */
const EMAIL = /[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,63}/g;
const AUTH_SCHEME = /^(Bearer|Basic|Token|Bot)\s+/i;
const TRIGGER_FIELDS = ['type', 'enabled', 'schedule', 'timezone', 'event_type', 'catch_up', 'overlap'];

const compact = (text: string): string => text.toLowerCase().replace(/[^a-z0-9]/g, '');
/** `max_tokens` and its kin count tokens of a model; they hold no credential. */
const TOKEN_COUNT = /tokens$/;
const isSecretKey = (key: string): boolean => {
  const name = compact(key);
  if (TOKEN_COUNT.test(name)) return false;
  return SECRET_EXACT.has(name) || SECRET_PARTS.some((part) => name.includes(part));
};

const templateInputSchema = z
  .object({
    type: z.enum(['string', 'number', 'boolean', 'object', 'array']),
    description: z.string().max(1000),
    required: z.boolean().optional(),
    default: z.unknown().optional(),
  })
  .strict();
const declaredInputs = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/), templateInputSchema);

/** A workflow as the public may see it. */
export interface PublicCopy {
  title: string;
  description: string;
  steps: StepDefinition[];
  trigger_config: TriggerConfig;
  inputs: Record<string, TemplateInput>;
  required_secrets: string[];
  /** From the metadata, when it holds a short text. */
  category: string | null;
  estimated_duration: string | null;
}

/** `fetch_headers_X-Api-Key` → `fetch_headers_x_api_key`, `companyId` → `company_id`. */
const snakeCase = (text: string): string =>
  text
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');

/** Names the placeholders of one publication; one value always gets one name. */
class Placeholders {
  readonly secrets = new Map<string, string>();
  readonly inputs: Record<string, TemplateInput> = {};
  private readonly inputNames = new Map<string, string>();

  secret(value: string, hint: string): string {
    const known = this.secrets.get(value);
    if (known) return `{{ secrets.${known} }}`;
    const base = snakeCase(hint).toUpperCase() || 'SECRET';
    const name = this.free(/^[A-Z_]/.test(base) ? base : `S_${base}`, new Set(this.secrets.values()));
    this.secrets.set(value, name);
    return `{{ secrets.${name} }}`;
  }

  input(value: string, hint: string, description: string): string {
    const known = this.inputNames.get(value);
    if (known) return `{{ input.${known} }}`;
    const base = snakeCase(hint) || 'value';
    const name = this.free(/^[a-z_]/.test(base) ? base : `v_${base}`, new Set(Object.keys(this.inputs)));
    this.inputNames.set(value, name);
    this.inputs[name] = { type: 'string', description, required: true };
    return `{{ input.${name} }}`;
  }

  private free(base: string, taken: Set<string>): string {
    let name = base.slice(0, 60);
    for (let n = 2; taken.has(name); n += 1) name = `${base.slice(0, 60)}_${n}`;
    return name;
  }
}

/** Applies `replace` to the literal parts of `text`, leaving its `{{ … }}` references as they are. */
function mapLiterals(text: string, replace: (literal: string) => string): string {
  let out = '';
  let last = 0;
  for (const { start, end } of templateReferences(text)) {
    out += replace(text.slice(last, start)) + text.slice(start, end);
    last = end;
  }
  return out + replace(text.slice(last));
}

/** `text` with its `{{ … }}` references cut out. */
function withoutReferences(text: string): string {
  let out = '';
  let last = 0;
  for (const { start, end } of templateReferences(text)) {
    out += text.slice(last, start);
    last = end;
  }
  return out + text.slice(last);
}

/** Shape-recognisable credentials, URL passwords and query keys, addresses and the org id, in any text. */
function scrubText(text: string, hint: string, orgId: string, names: Placeholders): string {
  return mapLiterals(text, (literal) => {
    let out = literal
      .replace(
        URL_CREDENTIALS,
        (_all, scheme: string) => `${scheme}${names.secret(_all, `${hint}_url_credentials`)}@`,
      )
      .replace(
        SECRET_QUERY,
        (_all, prefix: string, value: string) => `${prefix}${names.secret(value, `${hint}_query_key`)}`,
      );
    for (const shape of TOKEN_SHAPES)
      out = out.replace(shape, (token) => names.secret(token, `${hint}_token`));
    out = out.replace(EMAIL, (address) =>
      names.input(address, `${hint}_email`, `An email address (the publisher's was removed) used at ${hint}`),
    );
    return orgId
      ? out.split(orgId).join(names.input(orgId, 'org_id', "The installer's own org or account id"))
      : out;
  });
}

/** A literal credential under a secret-named key becomes a secret reference; an auth scheme word stays. */
function scrubSecretValue(value: unknown, hint: string, names: Placeholders): unknown {
  if (typeof value !== 'string')
    return value === null || typeof value === 'boolean' ? value : names.secret(JSON.stringify(value), hint);
  const scheme = AUTH_SCHEME.exec(value)?.[0] ?? '';
  // What is left besides references and separators (`{{ secrets.U }}:{{ secrets.P }}`) is a value.
  const literal = withoutReferences(value.slice(scheme.length)).replace(/[\s:;,./_-]+/g, '');
  if (literal === '') return value;
  return `${scheme}${names.secret(value.slice(scheme.length), hint)}`;
}

/** Scrubs a params tree; every scalar below a secret-named key (`credentials: { user, pass }`) is a secret. */
function scrub(
  value: unknown,
  key: string,
  hint: string,
  orgId: string,
  names: Placeholders,
  inSecret = false,
): unknown {
  const here = key ? `${hint}_${key}` : hint;
  const secret = inSecret || (key !== '' && isSecretKey(key));
  if (secret && (typeof value !== 'object' || value === null)) return scrubSecretValue(value, here, names);
  if (key && ORG_SPECIFIC.has(compact(key)) && (typeof value === 'string' || typeof value === 'number')) {
    const text = String(value);
    if (withoutReferences(text).trim() !== '') {
      return names.input(text, key, `The installer's ${key} (the publisher's was removed)`);
    }
    return value;
  }
  if (typeof value === 'string') return scrubText(value, here, orgId, names);
  if (Array.isArray(value)) return value.map((item) => scrub(item, '', here, orgId, names, secret));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([inner, item]) => [inner, scrub(item, inner, here, orgId, names, secret)]),
    );
  }
  return value;
}

/** Free text of a public copy: a known credential, anything shaped like one, an address or the org id goes. */
function redactText(text: string, orgId: string, known: [string, string][]): string {
  let out = text.replace(URL_CREDENTIALS, '$1[removed]@').replace(EMAIL, '[removed]');
  for (const shape of TOKEN_SHAPES) out = out.replace(shape, '[removed]');
  for (const [value] of known) out = out.split(value).join('[removed]');
  return orgId ? out.split(orgId).join('[removed]') : out;
}

const MAX_SHORT_TEXT = 60;

/** A short metadata text (a category, a duration) fit to show publicly, else null. */
function shortText(value: unknown, orgId: string, known: [string, string][]): string | null {
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_SHORT_TEXT) return null;
  return redactText(value.trim(), orgId, known);
}

/** Shorter values (a PIN such as "1") would match too much text to be replaced everywhere. */
const MIN_KNOWN_SECRET_LENGTH = 4;

/** Every literal occurrence of a known credential value, replaced by its secret reference. */
function withoutKnownSecrets(value: unknown, known: [string, string][]): unknown {
  if (typeof value === 'string') {
    return mapLiterals(value, (literal) =>
      known.reduce((text, [secret, name]) => text.split(secret).join(`{{ secrets.${name} }}`), literal),
    );
  }
  if (Array.isArray(value)) return value.map((item) => withoutKnownSecrets(item, known));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, withoutKnownSecrets(item, known)]),
    );
  }
  return value;
}

/**
 * The public copy of a workflow: steps with every literal credential, address and org-specific
 * value replaced by a reference, the trigger without its (org-specific) event filters, the
 * inputs it declares plus the placeholders, and the secrets an installer must set. The
 * callback URL and the metadata (site ids, company ids, …) are not part of it at all.
 */
export function publicCopy(workflow: WorkflowRecord): PublicCopy {
  const names = new Placeholders();
  const orgId = workflow.org_id;
  const declared = declaredInputs.safeParse(workflow.metadata.inputs);
  const scrubbed = workflow.definition.steps.map((step) => scrub(step.params, '', step.id, orgId, names));
  // A credential found under one key is also taken out wherever else its value was pasted.
  const known = [...names.secrets].filter(([value]) => value.length >= MIN_KNOWN_SECRET_LENGTH);
  const steps = workflow.definition.steps.map((step, index) => {
    const params = withoutKnownSecrets(scrubbed[index], known) as Record<string, unknown>;
    // `when` is JSONata, never templated: a value in it can only be cut out.
    const name = step.name === undefined ? {} : { name: redactText(step.name, orgId, known) };
    const when = step.when === undefined ? {} : { when: redactText(step.when, orgId, known) };
    return { ...step, ...name, ...when, params };
  });
  const trigger = Object.fromEntries(
    TRIGGER_FIELDS.filter((field) => workflow.trigger_config[field] !== undefined).map((field) => [
      field,
      workflow.trigger_config[field],
    ]),
  ) as TriggerConfig;
  const secrets = new Set<string>();
  for (const step of steps) referencedSecrets(step.params, secrets);
  return {
    title: redactText(workflow.title, orgId, known),
    description: redactText(workflow.description, orgId, known),
    steps,
    trigger_config: trigger,
    inputs: { ...(declared.success ? declared.data : {}), ...names.inputs },
    required_secrets: [...secrets].sort(),
    category: shortText(workflow.metadata.category, orgId, known),
    estimated_duration: shortText(workflow.metadata.estimated_duration, orgId, known),
  };
}
