import type { Millis } from '../domain/model.js';

/** An AI assistant session (document 001): what it is for, what it is called, where it stands. */
export interface InstanceRecord {
  id: string;
  org_id: string;
  site_id: string;
  name: string;
  /** The main activity or purpose it was created for. */
  activity: string;
  /** `running` when created; afterwards whatever the assistant sets. */
  status: string;
  /** The last context an update sent, for smart renaming. */
  context: string | null;
  created_at: Millis;
  updated_at: Millis;
}

/** What an update may change; `updated_at` is always rewritten. */
export type InstanceChanges = Pick<InstanceRecord, 'name' | 'status' | 'context' | 'updated_at'>;

/** Assistant instances. Every method is scoped to `orgId`: another org's instance is never read or written. */
export interface InstanceStore {
  /** Inserts a new instance; its site is the caller's to check. */
  insertInstance(instance: InstanceRecord): Promise<void>;
  getInstance(orgId: string, id: string): Promise<InstanceRecord | null>;
  /** The site's instances, newest first by `created_at`, then id. */
  listInstances(
    orgId: string,
    siteId: string,
    page: { limit: number; offset: number },
  ): Promise<InstanceRecord[]>;
  /** The site's most recently created or updated instance (by `updated_at`, then `created_at`, then id). */
  latestInstance(orgId: string, siteId: string): Promise<InstanceRecord | null>;
  /**
   * Sets `changes` on the instance.
   * @returns the updated instance, or null when there is no such instance in the org.
   */
  updateInstance(orgId: string, id: string, changes: InstanceChanges): Promise<InstanceRecord | null>;
}
