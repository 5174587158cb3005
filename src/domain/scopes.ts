/** What an API key may do. `admin` implies every other scope. */
export const SCOPES = [
  'workflows:read',
  'workflows:write',
  'instances:read',
  'instances:write',
  'events:write',
  'metrics:read',
  'admin',
] as const;
export type Scope = (typeof SCOPES)[number];

export const isScope = (value: string): value is Scope => (SCOPES as readonly string[]).includes(value);

export const hasScope = (granted: readonly string[], required: Scope): boolean =>
  granted.includes(required) || granted.includes('admin');

/** Who is calling: resolved from an API key by the adapters, passed to the services. */
export interface Principal {
  key_id: string;
  org_id: string;
  site_id: string | null;
  scopes: Scope[];
}
