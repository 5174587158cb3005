import type { WorkflowTemplate } from '../domain/template.js';
import { LEAD_TEMPLATES } from './leads.js';
import { MARKETING_TEMPLATES } from './marketing.js';
import { MESSAGING_TEMPLATES } from './messaging.js';
import { PROSPECTING_TEMPLATES } from './prospecting.js';
import { SHOP_TEMPLATES } from './shop.js';
import { SUPPORT_TEMPLATES } from './support.js';

/** Every template we ship, in the order `explore` lists them when install counts tie. */
export const TEMPLATE_CATALOGUE: readonly WorkflowTemplate[] = [
  ...SHOP_TEMPLATES,
  ...LEAD_TEMPLATES,
  ...PROSPECTING_TEMPLATES,
  ...MARKETING_TEMPLATES,
  ...MESSAGING_TEMPLATES,
  ...SUPPORT_TEMPLATES,
];

export function findTemplate(idOrSlug: string): WorkflowTemplate | undefined {
  return TEMPLATE_CATALOGUE.find((template) => template.id === idOrSlug || template.slug === idOrSlug);
}
