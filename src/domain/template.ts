import type { TriggerConfig } from './model.js';
import type { StepDefinitionInput } from './workflow.js';

/** One input a template's runs expect, as a run-now form or an AI caller needs to know it. */
export interface TemplateInput {
  type: 'string' | 'number' | 'boolean' | 'object' | 'array';
  description: string;
  required?: boolean;
  default?: unknown;
}

/**
 * A workflow we ship, built only from the generic tools. It is listed in the marketplace
 * (`explore`) and installed into an org as an ordinary workflow whose slug is `slug`, so
 * document 000's `/api/workflow/{action}` and document 003's `workflowId` find it.
 */
export interface WorkflowTemplate {
  /** The marketplace id, `tpl_` + slug. */
  id: string;
  /** The slug an installed copy takes, e.g. `leadResearch` or `ai_shop_checkup`. */
  slug: string;
  title: string;
  description: string;
  category: string;
  /** Words the deterministic planner matches against a title and description. */
  keywords: string[];
  /** The public API document that names this workflow, when one does. */
  source_document?: '000' | '003';
  inputs: Record<string, TemplateInput>;
  credit_cost: number;
  /** e.g. "3-5 min", as document 003 shows it. */
  estimated_duration: string;
  trigger_config: TriggerConfig;
  steps: StepDefinitionInput[];
  timeout_ms?: number;
}
