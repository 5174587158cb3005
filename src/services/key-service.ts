import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../domain/clock.js';
import { conflict, missingScope, notFound, unauthenticated, validationError } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { ApiKeyRecord, Org, Site } from '../domain/model.js';
import type { Plan } from '../domain/plan.js';
import { isOperator, isScope, scopeBeyond, SCOPES, type Principal, type Scope } from '../domain/scopes.js';
import type { NewTenant, Store } from '../store/store.js';
import { newOrg } from './bootstrap.js';
import type { FailedAuthThrottle } from './failed-auth-throttle.js';
import type { PlanService } from './plan-service.js';

/** A key as shown once, when it is created. */
export interface CreatedKey {
  id: string;
  key: string;
  org_id: string;
  site_id: string | null;
  scopes: Scope[];
}

/** What listings show of a key: never the key itself. */
export type KeySummary = Omit<ApiKeyRecord, 'key_hash'>;

const KEY_PREFIX = 'sk_live_';
/**
 * How long an authenticated key is trusted without asking the store again. Revocations
 * clear the cache at once in every process that hears the store's `keysRevoked` signal
 * (the revoking process; all processes on PostgreSQL); a key revoked from another process
 * on one SQLite file (the CLI beside a running server) stops working within this time.
 */
const AUTH_CACHE_MS = 1000;
const AUTH_CACHE_SIZE = 10_000;
const MIN_KEY_LENGTH = 24;

const hashKey = (key: string): string => createHash('sha256').update(key).digest('hex');

/** API keys: 256 random bits, shown once, stored as a SHA-256 hash, checked on every request. */
export class KeyService {
  private readonly authenticated = new Map<string, { principal: Principal; until: number }>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    /** The plans new orgs are created on; without it, `free` with no grant. */
    private readonly plans?: PlanService,
    /** Throttles clients that keep presenting invalid keys; without it, none is. */
    private readonly failedAuth?: FailedAuthThrottle,
  ) {}

  /**
   * Creates a key for `orgName` (and its `siteName`), creating the org and site when new, in
   * the key's transaction: a refused key leaves no new org or site behind.
   * `presetKey` lets an operator choose the key (STEPWISE_BOOTSTRAP_KEY).
   */
  async create(options: {
    orgName: string;
    siteName?: string;
    scopes: string[];
    name?: string;
    presetKey?: string;
    /** The plan of the org when this creates it (default: the configured default plan). */
    plan?: string;
  }): Promise<CreatedKey> {
    const scopes = parseScopes(options.scopes);
    if (options.presetKey !== undefined && options.presetKey.length < MIN_KEY_LENGTH) {
      throw validationError('key', `key: a chosen key needs at least ${MIN_KEY_LENGTH} characters`);
    }
    const plan = this.plans?.plan(options.plan ?? this.plans.defaultPlan);
    if (options.plan !== undefined && this.plans && !this.plans.plans[options.plan]) {
      throw validationError(
        'plan',
        `plan: '${options.plan}' is not one of ${Object.keys(this.plans.plans).join(', ')}`,
      );
    }
    const siteName = options.siteName ?? 'default';
    const key = options.presetKey ?? `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
    let tenant = await this.tenantFor(options.orgName, siteName, plan);
    for (;;) {
      const { org, site } = tenant;
      const record: ApiKeyRecord = {
        id: newId('key'),
        org_id: org.id,
        site_id: site.id,
        name: options.name ?? scopes.join(','),
        prefix: key.slice(0, KEY_PREFIX.length + 4),
        key_hash: hashKey(key),
        scopes,
        created_at: this.clock.now(),
        revoked_at: null,
      };
      try {
        await this.store.createApiKey(record, tenant.created);
        return { id: record.id, key, org_id: org.id, site_id: site.id, scopes };
      } catch (error) {
        // Another process may have created the org or site between our read and our write (its
        // name is unique, so ours was refused): the key then joins theirs. Each retry has fewer
        // rows to create, so this ends.
        const current = await this.tenantFor(options.orgName, siteName, plan);
        const raced =
          (tenant.created.org && !current.created.org) || (tenant.created.site && !current.created.site);
        if (!raced) throw error;
        tenant = current;
      }
    }
  }

  /** The key's org and site as stored, or built when missing (then also in `created`, to insert). */
  private async tenantFor(
    orgName: string,
    siteName: string,
    plan: Plan | undefined,
  ): Promise<{ org: Org; site: Site; created: NewTenant }> {
    const newSite = (orgId: string): Site => ({
      id: newId('site'),
      org_id: orgId,
      name: siteName,
      created_at: this.clock.now(),
    });
    const storedOrg = await this.store.getOrgByName(orgName);
    if (!storedOrg) {
      const { org, grant } = newOrg(this.clock, orgName, plan);
      const site = newSite(org.id);
      return { org, site, created: { org, grant, site } };
    }
    const storedSite = await this.store.getSiteByName(storedOrg.id, siteName);
    if (storedSite) return { org: storedOrg, site: storedSite, created: {} };
    const site = newSite(storedOrg.id);
    return { org: storedOrg, site, created: { site } };
  }

  /**
   * @param from the client's address, when the key came over the network: its failures are
   *   throttled.
   * @throws 401 when the key is unknown or revoked; 429 `AUTH_THROTTLED` when `from` made too
   *   many such attempts this minute.
   */
  async authenticate(key: string, from?: string): Promise<Principal> {
    if (from !== undefined) this.failedAuth?.refuseIfBlocked(from);
    const hash = hashKey(key);
    const cached = this.authenticated.get(hash);
    if (cached && cached.until > this.clock.now()) return cached.principal;
    const record = await this.store.findApiKeyByHash(hash);
    // The lookup is by hash, so the comparison below only guards against a store that
    // matched loosely; it is constant-time all the same.
    if (!record || !timingSafeEqual(Buffer.from(record.key_hash, 'hex'), Buffer.from(hash, 'hex'))) {
      if (from !== undefined) await this.failedAuth?.recordFailure(from);
      throw unauthenticated('the API key is not valid');
    }
    if (record.revoked_at !== null) {
      if (from !== undefined) await this.failedAuth?.recordFailure(from);
      throw unauthenticated('the API key was revoked');
    }
    const principal: Principal = {
      key_id: record.id,
      org_id: record.org_id,
      site_id: record.site_id,
      scopes: record.scopes as Scope[],
    };
    if (this.authenticated.size >= AUTH_CACHE_SIZE) this.authenticated.clear();
    this.authenticated.set(hash, { principal, until: this.clock.now() + AUTH_CACHE_MS });
    return principal;
  }

  /** Forgets every cached authentication; called when any key is revoked. */
  forgetAuthenticated(): void {
    this.authenticated.clear();
  }

  async list(orgId?: string): Promise<KeySummary[]> {
    return (await this.store.listApiKeys(orgId)).map(({ key_hash: _hash, ...rest }) => rest);
  }

  async revoke(id: string, orgId?: string): Promise<void> {
    const key = (await this.store.listApiKeys(orgId)).find((candidate) => candidate.id === id);
    if (!key) throw notFound('API key', id);
    if (key.revoked_at !== null || !(await this.store.revokeApiKey(id, this.clock.now()))) {
      throw conflict('KEY_ALREADY_REVOKED', `API key '${id}' is already revoked`);
    }
    this.forgetAuthenticated();
  }

  /**
   * Creates a key as `caller` may: an operator for any org (creating it when new), an org
   * admin for its own org only, and never with a scope the caller does not hold itself.
   * @throws 403 naming the scope the caller lacks; 400 for an unknown scope.
   */
  async createAs(
    caller: Principal,
    options: { org?: string; site?: string; scopes: string[]; name?: string },
  ): Promise<CreatedKey> {
    const scopes = parseScopes(options.scopes);
    const beyond = scopeBeyond(caller.scopes, scopes);
    if (beyond) throw missingScope(beyond, `a key cannot hand on the '${beyond}' scope it lacks`);
    const callerOrg = await this.store.getOrg(caller.org_id);
    if (!callerOrg) throw unauthenticated("the API key's org no longer exists");
    // `org` names the org, or gives its id; a name no org has yet makes a new org.
    const named = options.org ?? callerOrg.name;
    const orgName = (await this.store.getOrg(named))?.name ?? named;
    if (!isOperator(caller.scopes) && orgName !== callerOrg.name) {
      throw missingScope('operator', 'only an operator makes keys for another org or a new one');
    }
    return this.create({ orgName, siteName: options.site, scopes, name: options.name });
  }

  /** The keys `caller` manages: every org's for an operator, its own org's for an org admin. */
  listAs(caller: Principal): Promise<KeySummary[]> {
    return this.list(isOperator(caller.scopes) ? undefined : caller.org_id);
  }

  /**
   * Revokes a key `caller` manages. Another org's key is unknown to an org admin (404), and
   * an operator key of its own org is beyond it (403): it could not have made one either.
   */
  async revokeAs(caller: Principal, id: string): Promise<void> {
    if (isOperator(caller.scopes)) return this.revoke(id);
    const key = (await this.store.listApiKeys(caller.org_id)).find((candidate) => candidate.id === id);
    if (!key) throw notFound('API key', id);
    if (isOperator(key.scopes)) throw missingScope('operator', 'only an operator revokes an operator key');
    return this.revoke(id, caller.org_id);
  }

  /** The ids of the org's revoked keys: what they opened (MCP sessions) may be let go. */
  async revokedKeyIds(orgId: string): Promise<Set<string>> {
    const keys = await this.store.listApiKeys(orgId);
    return new Set(keys.filter((key) => key.revoked_at !== null).map((key) => key.id));
  }

  /** True when no key exists yet: the first start of an empty database. */
  async noKeysYet(): Promise<boolean> {
    return (await this.store.listApiKeys()).length === 0;
  }
}

function parseScopes(scopes: string[]): Scope[] {
  if (!Array.isArray(scopes) || scopes.length === 0) {
    throw validationError('scopes', `scopes: give at least one of ${SCOPES.join(', ')}`);
  }
  for (const scope of scopes) {
    if (!isScope(scope))
      throw validationError('scopes', `scopes: '${scope}' is not one of ${SCOPES.join(', ')}`);
  }
  return [...new Set(scopes)] as Scope[];
}
