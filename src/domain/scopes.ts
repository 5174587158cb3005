/**
 * What an API key may do. Two admin levels sit above the data scopes:
 * - `org_admin` manages its own org (keys, secrets) and implies every data scope there;
 * - `operator` manages every org (orgs, plans, credits, any org's keys) and implies all.
 * `admin` is the name operator keys had before the levels were split: a stored or newly
 * made `admin` key is an operator key, so keys handed out earlier keep their powers.
 */
export const SCOPES = [
  'workflows:read',
  'workflows:write',
  'instances:read',
  'instances:write',
  'events:write',
  'metrics:read',
  'org_admin',
  'operator',
  'admin',
] as const;
export type Scope = (typeof SCOPES)[number];

/** The scopes that reach across orgs: `/metrics` counts every org's work, so it is one of them for an org admin. */
const OPERATOR_SCOPES: readonly Scope[] = ['operator', 'admin'];
const BEYOND_ORG_ADMIN: readonly Scope[] = [...OPERATOR_SCOPES, 'metrics:read'];

export const isScope = (value: string): value is Scope => (SCOPES as readonly string[]).includes(value);

export const isOperator = (granted: readonly string[]): boolean =>
  OPERATOR_SCOPES.some((scope) => granted.includes(scope));

/** True when a key holding `granted` may do what `required` allows. */
export function hasScope(granted: readonly string[], required: Scope): boolean {
  if (isOperator(granted)) return true;
  if (OPERATOR_SCOPES.includes(required)) return false;
  return (
    granted.includes(required) || (granted.includes('org_admin') && !BEYOND_ORG_ADMIN.includes(required))
  );
}

/** The first of `requested` that a key holding `granted` may not hand on, or null when it may hand on all. */
export const scopeBeyond = (granted: readonly string[], requested: readonly Scope[]): Scope | null =>
  requested.find((scope) => !hasScope(granted, scope)) ?? null;

/** Who is calling: resolved from an API key by the adapters, passed to the services. */
export interface Principal {
  key_id: string;
  org_id: string;
  site_id: string | null;
  scopes: Scope[];
}
