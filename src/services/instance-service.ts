import { LlmClient, type LlmConfig } from '../ai/llm-client.js';
import type { Clock } from '../domain/clock.js';
import { notFound, validationError } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import {
  cleanSuggestedName,
  keywordName,
  MAX_NAME_WORDS,
  shouldRename,
  textSimilarity,
  truncateName,
} from '../domain/instance-naming.js';
import type { InstanceRecord } from '../store/instance-store.js';
import type { Store } from '../store/store.js';

export type { InstanceRecord };

/** An explicit name is at most this long; names made from an activity or a context at most 60. */
export const MAX_EXPLICIT_NAME_CHARS = 120;
const MAX_ACTIVITY_CHARS = 2000;
const MAX_CONTEXT_CHARS = 20_000;
const STATUS_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;
const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 100;
/** A rename must not hang on a slow provider: past this, the keyword namer answers. */
const DEFAULT_LLM_TIMEOUT_MS = 10_000;

export interface InstanceServiceOptions {
  /** The OpenAI-compatible endpoint that names instances; null → the keyword namer only. */
  llm?: LlmConfig | null;
  llmTimeoutMs?: number;
  /** Told when the LLM failed and the keyword namer stood in. */
  onNamingFallback?: (error: unknown) => void;
}

export interface CreateInstanceInput {
  activity: string;
  name?: string;
}

export interface ReadInstancesInput {
  site_id?: string;
  instance_id?: string;
  limit?: number;
  offset?: number;
}

export type ReadInstancesResult =
  { instance: InstanceRecord } | { instances: InstanceRecord[]; limit: number; offset: number };

export interface UpdateInstanceInput {
  /** Absent → the site's current instance (its most recently created or updated one). */
  instance_id?: string;
  /** Needed only to find the current instance; when given with `instance_id`, they must match. */
  site_id?: string;
  name?: string;
  status?: string;
  context?: string;
}

/** Document 001's update answer, plus the instance as it now is. */
export interface UpdateInstanceResult {
  renamed: boolean;
  old_name: string;
  new_name: string;
  /**
   * `textSimilarity(context, old_name)` when a context was sent (what decided a smart rename),
   * else null.
   */
  similarity: number | null;
  /** How the new name was chosen: null when the name did not change. */
  naming: 'explicit' | 'llm' | 'keywords' | null;
  instance: InstanceRecord;
}

function requireText(field: string, value: unknown, max: number): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw validationError(field, `${field}: a non-empty string is required`);
  }
  const text = value.trim();
  if (text.length > max) throw validationError(field, `${field}: at most ${max} characters`);
  return text;
}

function checkStatus(status: string): string {
  if (!STATUS_PATTERN.test(status)) {
    throw validationError(
      'status',
      "status: a lower-case word of letters, digits, '_' or '-' (32 at most), e.g. 'running', 'paused', 'completed'",
    );
  }
  return status;
}

const NAMING_PROMPT = `You name AI assistant sessions so a user can find them in a list.
Reply with the name only: a concise Title Case name of at most ${MAX_NAME_WORDS} words that says what the user is trying to accomplish. No quotes, no explanation, no trailing punctuation.`;

/**
 * Assistant instances (document 001): create, read, update, and smart renaming.
 *
 * Smart rename: an update with a `context` renames the instance when its current name is
 * generic ("Assistant Session", "New Instance", …) or the context's similarity to the name
 * is below 0.3 (see `domain/instance-naming.ts` for the measure). The new name comes from
 * the configured LLM, or from the keyword namer when there is none or the LLM fails.
 */
export class InstanceService {
  private readonly llm: LlmClient | null;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly options: InstanceServiceOptions = {},
  ) {
    this.llm = options.llm
      ? new LlmClient(options.llm, { timeoutMs: options.llmTimeoutMs ?? DEFAULT_LLM_TIMEOUT_MS })
      : null;
  }

  /**
   * The site a request works in: `requested` when it is a site of the org, else the key's
   * own site when nothing was requested. Shared by the instance and action dialects.
   * @throws 400 naming `site_id` when the requested site is not the org's, or none is known.
   */
  async resolveSiteId(
    orgId: string,
    requested: string | undefined,
    keySiteId: string | null,
  ): Promise<string> {
    if (requested === undefined) {
      if (keySiteId) return keySiteId;
      throw validationError('site_id', 'site_id: required, since this API key has no default site');
    }
    if (typeof requested !== 'string' || requested === '' || !(await this.store.getSite(orgId, requested))) {
      throw validationError('site_id', `site_id: '${String(requested)}' is not a site of this org`);
    }
    return requested;
  }

  /** Starts an instance for `activity`, named after it (or `name`), with status `running`. */
  async create(orgId: string, siteId: string, input: CreateInstanceInput): Promise<InstanceRecord> {
    const activity = requireText('activity', input.activity, MAX_ACTIVITY_CHARS);
    const name =
      input.name === undefined
        ? truncateName(activity)
        : requireText('name', input.name, MAX_EXPLICIT_NAME_CHARS);
    const site = await this.resolveSiteId(orgId, siteId, null);
    const now = this.clock.now();
    const instance: InstanceRecord = {
      id: newId('inst'),
      org_id: orgId,
      site_id: site,
      name,
      activity,
      status: 'running',
      context: null,
      created_at: now,
      updated_at: now,
    };
    await this.store.instances.insertInstance(instance);
    return instance;
  }

  /** One instance (by id, in any site of the org), or the site's instances, newest first. */
  async get(orgId: string, instanceId: string): Promise<InstanceRecord> {
    const instance = await this.store.instances.getInstance(orgId, instanceId);
    if (!instance) throw notFound('instance', instanceId);
    return instance;
  }

  async read(orgId: string, input: ReadInstancesInput): Promise<ReadInstancesResult> {
    if (input.instance_id !== undefined) {
      const instance = await this.get(orgId, input.instance_id);
      if (input.site_id !== undefined && instance.site_id !== input.site_id) {
        throw notFound('instance', input.instance_id);
      }
      return { instance };
    }
    if (input.site_id === undefined) throw validationError('site_id', 'site_id: required to list instances');
    const site = await this.resolveSiteId(orgId, input.site_id, null);
    const limit = Math.min(Math.max(Math.trunc(input.limit ?? DEFAULT_LIMIT), 1), MAX_LIMIT);
    const offset = Math.max(Math.trunc(input.offset ?? 0), 0);
    const instances = await this.store.instances.listInstances(orgId, site, { limit, offset });
    return { instances, limit, offset };
  }

  /**
   * The site's current instance: the one most recently created or updated.
   * @throws 404 when the site has none.
   */
  async current(orgId: string, siteId: string): Promise<InstanceRecord> {
    const site = await this.resolveSiteId(orgId, siteId, null);
    const instance = await this.store.instances.latestInstance(orgId, site);
    if (!instance) {
      throw notFound('current instance of site', site);
    }
    return instance;
  }

  /**
   * Renames (explicit `name`, or smart from `context`), sets `status`, stores `context`.
   * An explicit name wins over a context.
   */
  async update(orgId: string, input: UpdateInstanceInput): Promise<UpdateInstanceResult> {
    if (input.name === undefined && input.status === undefined && input.context === undefined) {
      throw validationError('name', 'send at least one of name, status or context to update an instance');
    }
    const explicitName =
      input.name === undefined ? undefined : requireText('name', input.name, MAX_EXPLICIT_NAME_CHARS);
    const status = input.status === undefined ? undefined : checkStatus(input.status);
    const context =
      input.context === undefined ? undefined : requireText('context', input.context, MAX_CONTEXT_CHARS);

    let instance: InstanceRecord;
    if (input.instance_id !== undefined) {
      instance = await this.get(orgId, input.instance_id);
      if (input.site_id !== undefined && instance.site_id !== input.site_id) {
        throw notFound('instance', input.instance_id);
      }
    } else if (input.site_id !== undefined) {
      instance = await this.current(orgId, input.site_id);
    } else {
      throw validationError(
        'instance_id',
        'instance_id: required when no site_id says whose current instance',
      );
    }

    const oldName = instance.name;
    const similarity = context === undefined ? null : textSimilarity(context, oldName);
    let newName = oldName;
    let naming: UpdateInstanceResult['naming'] = null;
    if (explicitName !== undefined) {
      newName = explicitName;
      naming = 'explicit';
    } else if (context !== undefined && similarity !== null && shouldRename(oldName, similarity)) {
      const suggested = await this.suggestName(context, oldName);
      if (suggested) {
        newName = suggested.name;
        naming = suggested.naming;
      }
    }
    const renamed = newName !== oldName;

    const updated = await this.store.instances.updateInstance(orgId, instance.id, {
      name: newName,
      status: status ?? instance.status,
      context: context ?? instance.context,
      updated_at: Math.max(this.clock.now(), instance.updated_at),
    });
    if (!updated) throw notFound('instance', instance.id);
    return {
      renamed,
      old_name: oldName,
      new_name: newName,
      similarity,
      naming: renamed ? naming : null,
      instance: updated,
    };
  }

  /** A name for `context`: the LLM's when configured and it answers usably, else the keyword namer's. */
  private async suggestName(
    context: string,
    currentName: string,
  ): Promise<{ name: string; naming: 'llm' | 'keywords' } | null> {
    if (this.llm) {
      try {
        const reply = await this.llm.chat({
          messages: [
            { role: 'system', content: NAMING_PROMPT },
            {
              role: 'user',
              content: `Current name: ${currentName}\nWhat the user is trying to accomplish:\n${context}`,
            },
          ],
          temperature: 0.2,
          max_tokens: 24,
        });
        const name = cleanSuggestedName(reply.content);
        if (name) return { name, naming: 'llm' };
        this.options.onNamingFallback?.(new Error('the LLM answered without a usable name'));
      } catch (error) {
        this.options.onNamingFallback?.(error);
      }
    }
    const name = keywordName(context);
    return name ? { name, naming: 'keywords' } : null;
  }
}
