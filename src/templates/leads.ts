import type { WorkflowTemplate } from '../domain/template.js';
import {
  crm,
  defineTemplate,
  fetchPage,
  shape,
  SITE_ID_INPUT,
  stringInput,
  think,
} from './template-steps.js';

// Document 000's lead actions. Each reads the lead from the org's CRM (secrets CRM_BASE_URL
// and CRM_API_KEY), lets the model judge it, writes the verdict back, and ends with a
// result the caller reads from the run's output.

const LEAD_ID = { lead_id: stringInput('The CRM id of the lead') };
const CONTEXT = { context: stringInput('Extra instructions for the model', false) };

export const LEAD_TEMPLATES: readonly WorkflowTemplate[] = [
  defineTemplate({
    slug: 'leadResearch',
    title: 'Lead research',
    description:
      "Researches a lead: reads it from the CRM, reads its company's website, and writes a research brief (company, pain points, talking points) back to the lead.",
    category: 'sales',
    keywords: ['lead', 'research', 'prospect', 'company', 'brief', 'crm'],
    source_document: '000',
    inputs: { ...SITE_ID_INPUT, ...LEAD_ID, ...CONTEXT },
    credit_cost: 10,
    estimated_duration: '1-3 min',
    steps: [
      crm('lead', 'GET', '/leads/{{ input.lead_id }}'),
      // A lead without a website, or a site that is down, still gets researched from the CRM data.
      fetchPage('website', '{{ steps.lead.output.body.website }}', {
        when: '$exists(steps.lead.output.body.website)',
        continue_on_error: true,
        retry: { max_attempts: 2, backoff: 'fixed', initial_ms: 1000, max_ms: 1000 },
      }),
      shape(
        'brief',
        '{ "lead": steps.lead.output.body, "website_text": $substring($string(steps.website.output.body), 0, 8000), "instructions": input.context }',
      ),
      think(
        'research',
        'You are a B2B sales researcher. Reply with a JSON object: { "summary": string, "company": { "name", "industry", "size" }, "pain_points": [string], "talking_points": [string], "confidence": number 0..1 }.',
        'Research this lead for a first sales conversation: {{ steps.brief.output }}',
      ),
      crm('save', 'POST', '/leads/{{ input.lead_id }}/research', '{{ steps.research.output.json }}'),
      shape(
        'result',
        '{ "lead_id": input.lead_id, "site_id": input.site_id, "research": steps.research.output.json }',
      ),
    ],
  }),
  defineTemplate({
    slug: 'enrichLead',
    title: 'Enrich lead',
    description:
      'Fills the gaps of a lead record (industry, company size, role, seniority, location) from what the CRM and the model know, and updates the lead.',
    category: 'sales',
    keywords: ['lead', 'enrich', 'enrichment', 'data', 'crm', 'update'],
    source_document: '000',
    inputs: { ...SITE_ID_INPUT, ...LEAD_ID },
    credit_cost: 5,
    estimated_duration: '1-2 min',
    steps: [
      crm('lead', 'GET', '/leads/{{ input.lead_id }}'),
      think(
        'enrich',
        'You enrich CRM lead records. Only state what the record supports; use null when unsure. Reply with a JSON object: { "industry", "company_size", "role", "seniority", "location", "linkedin_search": string }.',
        'Enrich this lead: {{ steps.lead.output.body }}',
      ),
      crm('update', 'PATCH', '/leads/{{ input.lead_id }}', '{{ steps.enrich.output.json }}'),
      shape('result', '{ "lead_id": input.lead_id, "enriched": steps.enrich.output.json }'),
    ],
  }),
  defineTemplate({
    slug: 'leadQualification',
    title: 'Lead qualification',
    description:
      "Scores a lead against the org's ideal client profile (BANT-style), marks it qualified or not in the CRM, and says why.",
    category: 'sales',
    keywords: ['lead', 'qualify', 'qualification', 'score', 'icp', 'bant'],
    source_document: '000',
    inputs: {
      ...SITE_ID_INPUT,
      ...LEAD_ID,
      min_score: { type: 'number', description: 'Score (0-100) from which a lead is qualified', default: 60 },
    },
    credit_cost: 5,
    estimated_duration: '1-2 min',
    steps: [
      crm('lead', 'GET', '/leads/{{ input.lead_id }}'),
      crm('icp', 'GET', '/icp'),
      think(
        'score',
        'You qualify B2B leads against an ideal client profile. Reply with a JSON object: { "score": integer 0..100, "reasons": [string], "budget", "authority", "need", "timing" }.',
        'Ideal client profile: {{ steps.icp.output.body }}\nLead: {{ steps.lead.output.body }}',
      ),
      shape(
        'verdict',
        '{ "qualified": steps.score.output.json.score >= (input.min_score ? input.min_score : 60), "score": steps.score.output.json.score, "reasons": steps.score.output.json.reasons }',
      ),
      crm('mark', 'PATCH', '/leads/{{ input.lead_id }}', {
        qualification: '{{ steps.verdict.output }}',
      }),
      shape('result', '$merge([{ "lead_id": input.lead_id }, steps.verdict.output])'),
    ],
  }),
  defineTemplate({
    slug: 'leadInvalidation',
    title: 'Lead invalidation',
    description:
      'Checks whether a lead is still worth pursuing (bounced email, company closed, duplicate, out of market) and marks it invalid in the CRM when it is not.',
    category: 'sales',
    keywords: ['lead', 'invalid', 'invalidation', 'cleanup', 'duplicate', 'bounce'],
    source_document: '000',
    inputs: { ...SITE_ID_INPUT, ...LEAD_ID, reason: stringInput('Why the lead is suspected invalid', false) },
    credit_cost: 3,
    estimated_duration: '1 min',
    steps: [
      crm('lead', 'GET', '/leads/{{ input.lead_id }}'),
      think(
        'check',
        'You clean CRM data. Reply with a JSON object: { "invalid": boolean, "reason": string }.',
        'Is this lead invalid? Report: {{ input }}\nLead: {{ steps.lead.output.body }}',
      ),
      {
        id: 'decide',
        tool: 'condition',
        params: { expression: 'invalid = true', data: '{{ steps.check.output.json }}', else: 'result' },
      },
      crm('invalidate', 'PATCH', '/leads/{{ input.lead_id }}', {
        status: 'invalid',
        invalid_reason: '{{ steps.check.output.json.reason }}',
      }),
      shape('result', '$merge([{ "lead_id": input.lead_id }, steps.check.output.json])'),
    ],
  }),
  defineTemplate({
    slug: 'assignLeads',
    title: 'Assign leads',
    description:
      "Assigns the site's unassigned leads to sales reps by territory, industry and current load, and records the assignments in the CRM.",
    category: 'sales',
    keywords: ['lead', 'assign', 'routing', 'sales rep', 'territory', 'distribution'],
    source_document: '000',
    inputs: { ...SITE_ID_INPUT },
    credit_cost: 5,
    estimated_duration: '1-3 min',
    steps: [
      crm('leads', 'GET', '/leads?assigned=false&site_id={{ input.site_id }}'),
      crm('team', 'GET', '/team'),
      think(
        'plan',
        'You route leads to sales reps, balancing load and matching territory and industry. Reply with a JSON object: { "assignments": [{ "lead_id", "rep_id", "reason" }] }.',
        'Reps: {{ steps.team.output.body }}\nUnassigned leads: {{ steps.leads.output.body }}',
      ),
      crm('save', 'POST', '/assignments', '{{ steps.plan.output.json }}'),
      shape(
        'result',
        '{ "assigned": $count(steps.plan.output.json.assignments), "assignments": steps.plan.output.json.assignments }',
      ),
    ],
  }),
  defineTemplate({
    slug: 'leadFollowUp',
    title: 'Lead follow-up',
    description:
      "Drafts the next follow-up for a lead from its history (channel, timing, message) and queues it as a task in the CRM for the lead's owner.",
    category: 'sales',
    keywords: ['lead', 'follow up', 'follow-up', 'nurture', 'reminder', 'task'],
    source_document: '000',
    inputs: { ...SITE_ID_INPUT, ...LEAD_ID, ...CONTEXT },
    credit_cost: 5,
    estimated_duration: '1-2 min',
    steps: [
      crm('lead', 'GET', '/leads/{{ input.lead_id }}'),
      crm('history', 'GET', '/leads/{{ input.lead_id }}/interactions'),
      think(
        'draft',
        'You are a thoughtful sales rep. Reply with a JSON object: { "channel": "email"|"whatsapp"|"call", "send_at": ISO date, "subject": string, "message": string }.',
        'Plan the next follow-up. Lead: {{ steps.lead.output.body }}\nHistory: {{ steps.history.output.body }}\nRequest: {{ input }}',
      ),
      crm('task', 'POST', '/leads/{{ input.lead_id }}/tasks', {
        type: 'follow_up',
        draft: '{{ steps.draft.output.json }}',
      }),
      shape('result', '{ "lead_id": input.lead_id, "follow_up": steps.draft.output.json }'),
    ],
  }),
  defineTemplate({
    slug: 'leadGeneration',
    title: 'Lead generation',
    description:
      "Proposes new leads that match the site's ideal client profile and segments, and adds them to the CRM as new, unqualified leads.",
    category: 'sales',
    keywords: ['lead', 'generation', 'generate', 'prospects', 'new leads', 'icp'],
    source_document: '000',
    inputs: {
      ...SITE_ID_INPUT,
      count: { type: 'number', description: 'How many leads to propose', default: 10 },
      ...CONTEXT,
    },
    credit_cost: 15,
    estimated_duration: '2-4 min',
    steps: [
      crm('icp', 'GET', '/icp'),
      crm('segments', 'GET', '/segments'),
      think(
        'propose',
        'You generate B2B prospect lists. Propose companies and roles only; never invent email addresses. Reply with a JSON object: { "leads": [{ "company", "website", "role", "segment", "why" }] }.',
        'Ideal client profile: {{ steps.icp.output.body }}\nSegments: {{ steps.segments.output.body }}\nRequest: {{ input }}',
      ),
      crm('create', 'POST', '/leads/batch', {
        leads: '{{ steps.propose.output.json.leads }}',
        status: 'new',
      }),
      shape(
        'result',
        '{ "created": $count(steps.propose.output.json.leads), "leads": steps.propose.output.json.leads }',
      ),
    ],
  }),
];
