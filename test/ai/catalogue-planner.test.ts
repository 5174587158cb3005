import { describe, expect, it } from 'vitest';
import { planFromCatalogue, scoreTemplate, wordsOf } from '../../src/domain/catalogue-planner.js';
import { toolSetOf } from '../../src/domain/generation.js';
import type { WorkflowTemplate } from '../../src/domain/template.js';
import { parseWorkflowDefinition } from '../../src/domain/workflow.js';
import { TEMPLATE_CATALOGUE } from '../../src/templates/catalogue.js';
import { defineTemplate } from '../../src/templates/template-steps.js';
import { createDefaultToolRegistry } from '../../src/tools/registry.js';

const tools = createDefaultToolRegistry();
const valid = (steps: unknown[]) => parseWorkflowDefinition({ steps }, (tool) => tools.has(tool));

const template = (slug: string, keywords: string[], tool: string, extra: Partial<WorkflowTemplate> = {}) =>
  defineTemplate({
    slug,
    title: slug,
    description: `${slug} template`,
    category: 'test',
    keywords,
    inputs: { site_id: { type: 'string', description: 'site', required: true } },
    credit_cost: 3,
    estimated_duration: '1 min',
    steps: [{ id: 'only', tool, params: tool === 'log' ? { message: 'm' } : { expression: '$' } }],
    ...extra,
  });

const fixture = [
  template('emailDigest', ['email', 'summary', 'inbox'], 'log'),
  template('emailCleanup', ['email', 'cleanup'], 'log'),
  template('leadScoring', ['lead', 'score', 'qualification'], 'transform', { timeout_ms: 60_000 }),
];

describe('wordsOf', () => {
  it('lower-cases, splits camelCase, drops plurals, short and stop words', () => {
    expect([...wordsOf('Summarize the leadResearch emails for my Inbox, v2')]).toEqual([
      'summarize',
      'lead',
      'research',
      'email',
      'inbox',
    ]);
  });
});

describe('planFromCatalogue (fixture catalogue)', () => {
  it('copies the best-scoring template: steps, timeout, cost, inputs, and names the words it matched', () => {
    const plan = planFromCatalogue({ title: 'Score new leads', description: 'Lead qualification' }, fixture);
    expect(plan.template?.slug).toBe('leadScoring');
    expect(plan).toMatchObject({
      timeout_ms: 60_000,
      credit_cost: 3,
      inputs: { site_id: expect.any(Object) },
    });
    expect(plan.steps).toEqual(fixture[2]!.steps);
    expect(plan.steps).not.toBe(fixture[2]!.steps);
    expect(plan.note).toMatch(/No LLM is configured.*'leadScoring'.*matched on: score, lead, qualification/);
  });

  it('breaks ties by catalogue order, so the answer is stable', () => {
    const plan = planFromCatalogue({ title: 'Email', description: '' }, fixture);
    expect(plan.template?.slug).toBe('emailDigest');
    expect(scoreTemplate(wordsOf('email'), fixture[0]!).score).toBe(
      scoreTemplate(wordsOf('email'), fixture[1]!).score,
    );
  });

  it('with a tool set to avoid, passes over templates using exactly it', () => {
    const plan = planFromCatalogue(
      { title: 'Email digest', description: '', avoidToolSet: ['log'] },
      fixture,
    );
    expect(plan.template).toBeNull();
    expect(toolSetOf(plan.steps)).not.toEqual(['log']);
    expect(plan.note).toMatch(/no catalogue template with a different tool set matched/);
  });

  it('nothing matching: a valid placeholder of llm-free tools, said plainly; another when that tool set is to be avoided', () => {
    const plan = planFromCatalogue({ title: 'Quux', description: 'zyxw' }, fixture);
    expect(plan).toMatchObject({ template: null, credit_cost: 0, inputs: {} });
    expect(toolSetOf(plan.steps)).toEqual(['log', 'transform']);
    expect(plan.note).toMatch(/no catalogue template matched.*placeholder \(log \+ transform\)/);
    valid(plan.steps);
    const other = planFromCatalogue(
      { title: 'Quux', description: '', avoidToolSet: ['log', 'transform'] },
      fixture,
    );
    expect(toolSetOf(other.steps)).toEqual(['log']);
    valid(other.steps);
  });

  it('an empty catalogue still yields a valid workflow', () => {
    valid(planFromCatalogue({ title: 'Anything at all', description: '' }, []).steps);
  });
});

describe('planFromCatalogue (the shipped catalogue)', () => {
  it('holds templates, and every template is a valid workflow', () => {
    expect(TEMPLATE_CATALOGUE.length).toBeGreaterThan(20);
    for (const entry of TEMPLATE_CATALOGUE) valid(entry.steps);
  });

  it.each([
    ['Lead qualification', 'Score and qualify inbound leads against our ICP', 'leadQualification'],
    ['AI shop checkup', 'Audit how ChatGPT and assistants see my shop', 'ai_shop_checkup'],
    ['Write a blog article', 'Draft a newsletter post for our readers', 'buildContent'],
    ['Reply on WhatsApp', 'Answer an incoming WhatsApp message', 'answerWhatsappMessage'],
  ])('%s → %s', (title, description, slug) => {
    const plan = planFromCatalogue({ title, description }, TEMPLATE_CATALOGUE);
    expect(plan.template?.slug).toBe(slug);
    valid(plan.steps);
  });

  it('with force_different_tools, answers with another tool set', () => {
    const first = planFromCatalogue({ title: 'Lead qualification', description: '' }, TEMPLATE_CATALOGUE);
    const second = planFromCatalogue(
      { title: 'Lead qualification', description: '', avoidToolSet: toolSetOf(first.steps) },
      TEMPLATE_CATALOGUE,
    );
    expect(toolSetOf(second.steps)).not.toEqual(toolSetOf(first.steps));
    valid(second.steps);
  });
});
