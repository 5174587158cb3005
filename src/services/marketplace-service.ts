import type { Clock } from '../domain/clock.js';
import { notFound, validationError } from '../domain/errors.js';
import type { WorkflowRecord } from '../domain/model.js';
import { publicCopy } from '../domain/publishing.js';
import type { WorkflowTemplate } from '../domain/template.js';
import { referencedSecrets } from '../domain/templating.js';
import type { WorkflowInput } from '../domain/workflow-input.js';
import { parseWorkflowDefinition, type WorkflowDefinition } from '../domain/workflow.js';
import type { ListingSnapshot, MarketplaceListing } from '../domain/marketplace.js';
import type { ListingFilter } from '../store/marketplace-store.js';
import type { Store } from '../store/store.js';
import type { ToolCatalog, WorkflowService } from './workflow-service.js';

export interface InstallOptions {
  /** The installed workflow's slug; without it the listing's, or a numbered variant when taken. */
  slug?: string;
  title?: string;
}

const COMMUNITY_CATEGORY = 'community';

/** The parts of a definition a listing carries, without the absent ones. */
const definitionParts = (definition: WorkflowDefinition) =>
  Object.fromEntries(
    (['timeout_ms', 'concurrency', 'throttle', 'max_iterations'] as const)
      .filter((field) => definition[field] !== undefined)
      .map((field) => [field, definition[field]]),
  ) as Pick<ListingSnapshot, 'timeout_ms' | 'concurrency' | 'throttle' | 'max_iterations'>;

/** The secret names the steps reference, sorted. */
function secretsOf(definition: WorkflowDefinition): string[] {
  const found = new Set<string>();
  for (const step of definition.steps) referencedSecrets(step.params, found);
  return [...found].sort();
}

/**
 * The community marketplace and the template catalogue (document 004's explore, community,
 * public, publish and unpublish, plus install). A listing is a sanitized snapshot: installing
 * copies it into the installer's org as an ordinary workflow, so later edits of the source
 * never reach installed copies, and a republish updates the listing for future installs only.
 */
export class MarketplaceService {
  constructor(
    private readonly store: Store,
    private readonly workflows: WorkflowService,
    private readonly tools: ToolCatalog,
    private readonly clock: Clock,
    private readonly templates: readonly WorkflowTemplate[],
  ) {}

  /**
   * Lists the shipped templates (at every start): new ones appear, changed ones are
   * updated, install counts stay. One no longer shipped is hidden (it could only be
   * installed as it was last shipped), its count kept should it come back.
   * A template that does not parse stops the start.
   * @returns the ids of the template listings it hid.
   */
  async syncTemplates(): Promise<string[]> {
    const now = this.clock.now();
    const listings = this.templates.map((template, position): MarketplaceListing => {
      const definition = parseWorkflowDefinition(
        { steps: template.steps, timeout_ms: template.timeout_ms },
        (tool) => this.tools.has(tool),
        `template ${template.slug}`,
      );
      return {
        id: template.id,
        kind: 'template',
        source_org_id: null,
        source_workflow_id: null,
        slug: template.slug,
        title: template.title,
        description: template.description,
        category: template.category,
        snapshot: {
          steps: definition.steps,
          trigger_config: template.trigger_config,
          ...definitionParts(definition),
          inputs: template.inputs,
          credit_cost: template.credit_cost,
          estimated_duration: template.estimated_duration,
          required_secrets: secretsOf(definition),
        },
        install_count: 0,
        published_at: now,
        updated_at: now,
        hidden: false,
        position,
      };
    });
    await this.store.marketplace.upsertListings(listings);
    return this.store.marketplace.hideTemplatesNotIn(
      listings.map((listing) => listing.id),
      now,
    );
  }

  /** A visible listing; an unknown or unpublished one is a 404 naming it. */
  async get(listingId: string): Promise<MarketplaceListing> {
    const listing = await this.store.marketplace.getListing(listingId);
    if (!listing) throw notFound('public workflow', listingId);
    return listing;
  }

  /** Featured: most installed first, then newest. */
  explore(filter: ListingFilter) {
    return this.store.marketplace.listListings(filter, 'featured');
  }

  /** Every public listing, newest first. */
  community(filter: ListingFilter) {
    return this.store.marketplace.listListings(filter, 'newest');
  }

  /**
   * Publishes (or republishes) the org's workflow: its sanitized copy becomes the listing
   * whose id is the workflow's id, and the workflow is marked `is_public`.
   */
  async publish(
    orgId: string,
    workflowRef: string,
  ): Promise<{ workflow: WorkflowRecord; listing: MarketplaceListing }> {
    const workflow = await this.workflows.get(orgId, workflowRef);
    if (workflow.definition.steps.length === 0) {
      throw validationError(
        'steps',
        `steps: workflow '${workflowRef}' has no steps; add some before publishing it`,
      );
    }
    const copy = publicCopy(workflow);
    const now = this.clock.now();
    await this.store.marketplace.upsertListings([
      {
        id: workflow.id,
        kind: 'community',
        source_org_id: orgId,
        source_workflow_id: workflow.id,
        slug: workflow.slug,
        title: copy.title,
        description: copy.description,
        category: copy.category ?? COMMUNITY_CATEGORY,
        snapshot: {
          steps: copy.steps,
          trigger_config: copy.trigger_config,
          ...definitionParts(workflow.definition),
          inputs: copy.inputs,
          credit_cost: workflow.credit_cost,
          estimated_duration: copy.estimated_duration,
          required_secrets: copy.required_secrets,
        },
        install_count: 0,
        published_at: now,
        updated_at: now,
        hidden: false,
        position: 0,
      },
    ]);
    const published = workflow.is_public
      ? workflow
      : await this.workflows.update(orgId, workflow.id, { is_public: true });
    return { workflow: published, listing: await this.get(workflow.id) };
  }

  /** Takes the org's workflow off the marketplace; installed copies stay where they are. */
  async unpublish(orgId: string, workflowRef: string): Promise<WorkflowRecord> {
    const workflow = await this.workflows.get(orgId, workflowRef);
    await this.store.marketplace.hideListing(workflow.id, this.clock.now());
    return workflow.is_public ? this.workflows.update(orgId, workflow.id, { is_public: false }) : workflow;
  }

  /** A deleted workflow's listing goes with it. */
  async workflowDeleted(orgId: string, workflowId: string): Promise<void> {
    const listing = await this.store.marketplace.getListing(workflowId);
    if (listing?.source_org_id === orgId)
      await this.store.marketplace.hideListing(workflowId, this.clock.now());
  }

  /**
   * Copies a listing into the org as a new workflow and counts the install. The copy keeps
   * the listing's inputs (`metadata.inputs`), credit cost, `metadata.estimated_duration` and
   * origin (`metadata.installed_from`). Like n8n's imports, a copy whose trigger would fire
   * by itself (scheduled, event) arrives `inactive` until its owner has set its secrets and
   * activates it; a manual one arrives `active`, runnable at once. `missing_secrets` names the
   * listing's required secrets the org has not set, which would otherwise surface only as the
   * first run failing at the step that needs one.
   */
  async install(
    orgId: string,
    listingId: string,
    options: InstallOptions = {},
  ): Promise<{ workflow: WorkflowRecord; listing: MarketplaceListing; missing_secrets: string[] }> {
    const listing = await this.get(listingId);
    const snapshot = listing.snapshot;
    const input: WorkflowInput = {
      title: options.title ?? listing.title,
      description: listing.description,
      steps: snapshot.steps,
      trigger_config: snapshot.trigger_config,
      ...(snapshot.timeout_ms === undefined ? {} : { timeout_ms: snapshot.timeout_ms }),
      ...(snapshot.concurrency === undefined ? {} : { concurrency: snapshot.concurrency }),
      ...(snapshot.throttle === undefined ? {} : { throttle: snapshot.throttle }),
      ...(snapshot.max_iterations === undefined ? {} : { max_iterations: snapshot.max_iterations }),
      credit_cost: snapshot.credit_cost,
      status: snapshot.trigger_config.type === 'manual' ? 'active' : 'inactive',
      metadata: {
        installed_from: listing.id,
        inputs: snapshot.inputs,
        required_secrets: snapshot.required_secrets,
        category: listing.category,
        ...(snapshot.estimated_duration === null ? {} : { estimated_duration: snapshot.estimated_duration }),
      },
    };
    const workflow = options.slug
      ? await this.workflows.create(orgId, { ...input, slug: options.slug })
      : await this.workflows.create(orgId, input, { freeSlugFrom: listing.slug });
    const count = await this.store.marketplace.recordInstall(listing.id);
    const secretsSet = new Set(await this.store.listSecretNames(orgId));
    return {
      workflow,
      listing: { ...listing, install_count: count ?? listing.install_count },
      missing_secrets: snapshot.required_secrets.filter((name) => !secretsSet.has(name)),
    };
  }
}
