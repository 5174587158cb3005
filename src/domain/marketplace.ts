import type { Millis, TriggerConfig } from './model.js';
import type { TemplateInput } from './template.js';
import type { StepDefinition, WorkflowDefinition } from './workflow.js';

/** `template`: shipped with Stepwise; `community`: a workflow an org published. */
export type ListingKind = 'template' | 'community';

/** What an install copies: a sanitized workflow, with no secret value and nothing org-specific. */
export interface ListingSnapshot {
  steps: StepDefinition[];
  trigger_config: TriggerConfig;
  timeout_ms?: WorkflowDefinition['timeout_ms'];
  concurrency?: WorkflowDefinition['concurrency'];
  throttle?: WorkflowDefinition['throttle'];
  max_iterations?: WorkflowDefinition['max_iterations'];
  inputs: Record<string, TemplateInput>;
  credit_cost: number;
  /** e.g. "3-5 min"; null when the publisher declared none. */
  estimated_duration: string | null;
  /** Names the steps reference as `{{ secrets.NAME }}`: the installer sets them. */
  required_secrets: string[];
}

/** One entry of the marketplace. A community listing's id is its source workflow's id. */
export interface MarketplaceListing {
  id: string;
  kind: ListingKind;
  /** The publishing org and workflow; null for templates. Never shown publicly. */
  source_org_id: string | null;
  source_workflow_id: string | null;
  slug: string;
  title: string;
  description: string;
  category: string;
  snapshot: ListingSnapshot;
  install_count: number;
  published_at: Millis;
  updated_at: Millis;
  /** Unpublished (or its workflow deleted): hidden from every read but `getListing(…, true)`. */
  hidden: boolean;
  /** Breaks ties after install count and publication time: the catalogue order of templates. */
  position: number;
}
