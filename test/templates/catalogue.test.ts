import { describe, expect, it } from 'vitest';
import { evaluateExpression } from '../../src/domain/expression.js';
import { parseCron, parseTimezone } from '../../src/domain/schedule.js';
import { triggerConfigSchema } from '../../src/domain/workflow-input.js';
import { parseWorkflowDefinition } from '../../src/domain/workflow.js';
import { findTemplate, TEMPLATE_CATALOGUE } from '../../src/templates/catalogue.js';
import { createDefaultToolRegistry } from '../../src/tools/registry.js';

// Every shipped template must be a workflow the real schema and the real tools accept, under
// the names and with the costs the public documents give.

/** Document 000's action enum, in its order. */
const DOCUMENT_000 = [
  'idealClientProfileMining',
  'buildCampaigns',
  'buildContent',
  'buildSegments',
  'buildSegmentsICP',
  'leadFollowUp',
  'leadResearch',
  'enrichLead',
  'leadGeneration',
  'analyzeSite',
  'assignLeads',
  'leadInvalidation',
  'dailyProspection',
  'leadQualification',
  'dailyStrategicAccounts',
  'sendEmailFromAgent',
  'sendWhatsappFromAgent',
  'scheduleCustomerSupport',
  'answerWhatsappMessage',
  'dailyStandUp',
  'customerSupportMessage',
  'agentMessage',
  'startRobot',
  'promptRobot',
  'stopRobot',
];

/** Document 003's table: id, name, credit cost, duration. */
const DOCUMENT_003: [string, string, number, string][] = [
  ['ai_shop_checkup', 'AI Shop Checkup', 25, '3-5 min'],
  ['fix_visibility', 'Fix My Visibility', 20, '4-6 min'],
  ['competitive_scan', 'Conquest Campaign', 20, '3-5 min'],
  ['content_refresh', 'Service Menu Update', 15, '4-6 min'],
  ['full_service', 'Full Detail', 45, '8-12 min'],
  ['reputation_shield', 'Reputation Shield', 15, '2-3 min'],
];

const tools = createDefaultToolRegistry();
const REFERENCE = /\{\{\s*([^{}]+?)\s*\}\}/g;
const ADDRESS_FIELDS = new Set(['to', 'cc', 'bcc', 'from', 'reply_to']);

/**
 * Params with every `{{ … }}` replaced by a stand-in of the type its field wants, so the
 * tool's own params schema can judge everything else about them.
 */
function withStandIns(value: unknown, key = ''): unknown {
  if (typeof value === 'string' && value.includes('{{')) {
    if (key === 'url')
      return value.replace(/^\{\{[^{}]+\}\}/, 'https://stub.example').replace(REFERENCE, 'x');
    if (ADDRESS_FIELDS.has(key)) return 'someone@example.com';
    if (key === 'secret') return `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
    if (key === 'until') return '2030-01-01T09:00:00Z';
    return value.replace(REFERENCE, 'x');
  }
  if (Array.isArray(value)) return value.map((item) => withStandIns(item));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withStandIns(v, k)]));
  }
  return value;
}

/** The JSONata expressions of a step: its `when`, a transform's expression, a condition's tests. */
function expressionsOf(step: { tool: string; when?: string; params?: Record<string, unknown> }): string[] {
  const params = step.params ?? {};
  const found = step.when ? [step.when] : [];
  if (step.tool === 'transform' || (step.tool === 'condition' && params.expression)) {
    found.push(params.expression as string);
  }
  for (const test of (params.cases as { when: string }[] | undefined) ?? []) found.push(test.when);
  return found;
}

describe('the template catalogue', () => {
  it("holds exactly document 000's 25 actions and document 003's 6 workflows, ids tpl_<slug>, unique", () => {
    const slugs = TEMPLATE_CATALOGUE.map((t) => t.slug);
    expect([...slugs].sort()).toEqual([...DOCUMENT_000, ...DOCUMENT_003.map(([id]) => id)].sort());
    expect(new Set(TEMPLATE_CATALOGUE.map((t) => t.id)).size).toBe(TEMPLATE_CATALOGUE.length);
    for (const template of TEMPLATE_CATALOGUE) {
      expect(template.id).toBe(`tpl_${template.slug}`);
      expect(template.source_document).toBe(DOCUMENT_000.includes(template.slug) ? '000' : '003');
      expect(findTemplate(template.slug)).toBe(template);
      expect(findTemplate(template.id)).toBe(template);
    }
  });

  it("gives document 003's workflows its names, credit costs and durations exactly", () => {
    for (const [slug, title, cost, duration] of DOCUMENT_003) {
      expect(findTemplate(slug)).toMatchObject({ title, credit_cost: cost, estimated_duration: duration });
      expect(findTemplate(slug)!.inputs.context).toMatchObject({ type: 'string', required: false });
    }
  });

  it.each(TEMPLATE_CATALOGUE.map((t) => [t.slug, t] as const))(
    '%s parses with the real schema and tools, every step and expression included',
    async (_slug, template) => {
      const definition = parseWorkflowDefinition(
        { steps: template.steps, timeout_ms: template.timeout_ms },
        (tool) => tools.has(tool),
      );
      expect(definition.steps.length).toBeGreaterThan(1);
      const trigger = triggerConfigSchema.parse(template.trigger_config);
      if (trigger.type === 'scheduled')
        parseCron(trigger.schedule!, parseTimezone(trigger.timezone ?? 'UTC'));
      expect(template.credit_cost).toBeGreaterThan(0);
      expect(template.estimated_duration).toMatch(/\d/);
      expect(template.description.length).toBeGreaterThan(40);
      expect(template.keywords.length).toBeGreaterThanOrEqual(3);
      if (template.source_document === '000') {
        expect(template.inputs.site_id).toMatchObject({ type: 'string', required: true });
      }

      const seen = new Set<string>();
      for (const step of definition.steps) {
        const params = tools.get(step.tool)!.params.safeParse(withStandIns(step.params));
        expect(params.success, `${step.id}: ${JSON.stringify(params.error?.issues)}`).toBe(true);
        for (const expression of expressionsOf(step)) {
          await expect(
            evaluateExpression(expression, { input: {}, steps: {} }),
            `${step.id}: ${expression}`,
          ).resolves.not.toThrow();
        }
        // Templates only read declared inputs and steps that ran before.
        for (const [, reference] of JSON.stringify(step.params).matchAll(REFERENCE)) {
          const [root, name] = reference!.split('.');
          if (root === 'input' && name !== undefined)
            expect(template.inputs, `${step.id}: ${reference}`).toHaveProperty(name!);
          if (root === 'steps' && name !== undefined)
            expect(seen, `${step.id}: ${reference}`).toContain(name);
          if (root === 'secrets') expect(name, reference).toMatch(/^[A-Z][A-Z0-9_]*$/);
        }
        seen.add(step.id);
      }
    },
  );
});
