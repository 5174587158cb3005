import type { WorkflowTemplate } from '../domain/template.js';
import { crm, defineTemplate, shape, SITE_ID_INPUT, stringInput, think } from './template-steps.js';

// Document 000's profile, segment and daily prospecting actions, over the org's CRM
// (secrets CRM_BASE_URL and CRM_API_KEY).

const CONTEXT = { context: stringInput('Extra instructions for the model', false) };

export const PROSPECTING_TEMPLATES: readonly WorkflowTemplate[] = [
  defineTemplate({
    slug: 'idealClientProfileMining',
    title: 'Ideal client profile mining',
    description:
      "Mines the site's best customers (won deals, revenue, retention) for what they share, and saves the resulting ideal client profile to the CRM.",
    category: 'sales',
    keywords: ['ideal client profile', 'icp', 'customers', 'mining', 'persona', 'analysis'],
    source_document: '000',
    inputs: { ...SITE_ID_INPUT, ...CONTEXT },
    credit_cost: 15,
    estimated_duration: '2-4 min',
    steps: [
      crm('customers', 'GET', '/customers?status=won&site_id={{ input.site_id }}'),
      think(
        'profile',
        'You are a go-to-market analyst. From the customers given, infer the ideal client profile. Reply with a JSON object: { "industries": [string], "company_size": string, "roles": [string], "pains": [string], "triggers": [string], "disqualifiers": [string], "summary": string }.',
        'Customers: {{ steps.customers.output.body }}\nRequest: {{ input }}',
      ),
      crm('save', 'PUT', '/icp', '{{ steps.profile.output.json }}'),
      shape('result', '{ "site_id": input.site_id, "icp": steps.profile.output.json }'),
    ],
  }),
  defineTemplate({
    slug: 'buildSegments',
    title: 'Build segments',
    description:
      "Groups the site's leads into actionable segments (industry, size, intent) with a name and a messaging angle each, and saves them to the CRM.",
    category: 'sales',
    keywords: ['segment', 'segments', 'segmentation', 'audience', 'leads', 'groups'],
    source_document: '000',
    inputs: { ...SITE_ID_INPUT, ...CONTEXT },
    credit_cost: 10,
    estimated_duration: '2-3 min',
    steps: [
      crm('leads', 'GET', '/leads?site_id={{ input.site_id }}'),
      think(
        'segment',
        'You segment B2B audiences. Reply with a JSON object: { "segments": [{ "name", "criteria", "angle", "lead_ids": [string] }] }.',
        'Leads: {{ steps.leads.output.body }}\nRequest: {{ input }}',
      ),
      crm('save', 'POST', '/segments', '{{ steps.segment.output.json }}'),
      shape(
        'result',
        '{ "segments": steps.segment.output.json.segments.{ "name": name, "leads": $count(lead_ids) } }',
      ),
    ],
  }),
  defineTemplate({
    slug: 'buildSegmentsICP',
    title: 'Build segments from the ideal client profile',
    description:
      "Derives segments from the site's ideal client profile rather than its current leads: who to target, how to recognise them, what to say.",
    category: 'sales',
    keywords: ['segment', 'icp', 'ideal client profile', 'targeting', 'audience'],
    source_document: '000',
    inputs: { ...SITE_ID_INPUT, ...CONTEXT },
    credit_cost: 10,
    estimated_duration: '2-3 min',
    steps: [
      crm('icp', 'GET', '/icp'),
      think(
        'segment',
        'You turn an ideal client profile into target segments. Reply with a JSON object: { "segments": [{ "name", "criteria", "signals": [string], "angle" }] }.',
        'Ideal client profile: {{ steps.icp.output.body }}\nRequest: {{ input }}',
      ),
      crm('save', 'POST', '/segments', {
        source: 'icp',
        segments: '{{ steps.segment.output.json.segments }}',
      }),
      shape('result', '{ "segments": steps.segment.output.json.segments.name }'),
    ],
  }),
  defineTemplate({
    slug: 'dailyProspection',
    title: 'Daily prospection',
    description:
      "Every working morning: picks today's best prospects from the new leads, researches them briefly, and queues a personalised first touch for each in the CRM.",
    category: 'sales',
    keywords: ['daily', 'prospection', 'prospecting', 'outreach', 'first touch', 'morning'],
    source_document: '000',
    inputs: { ...SITE_ID_INPUT, ...CONTEXT },
    credit_cost: 20,
    estimated_duration: '3-6 min',
    trigger_config: { type: 'scheduled', enabled: true, schedule: '0 8 * * 1-5', timezone: 'UTC' },
    steps: [
      crm('icp', 'GET', '/icp'),
      crm('leads', 'GET', '/leads?status=new&limit=50'),
      think(
        'pick',
        'You are an SDR planning today\'s outreach. Pick at most 10 leads that best fit the profile. Reply with a JSON object: { "picks": [{ "lead_id", "why", "opening_line", "channel": "email"|"whatsapp"|"linkedin" }] }.',
        'Ideal client profile: {{ steps.icp.output.body }}\nNew leads: {{ steps.leads.output.body }}\nRequest: {{ input }}',
      ),
      crm('queue', 'POST', '/outreach/queue', {
        run_id: '{{ run.id }}',
        picks: '{{ steps.pick.output.json.picks }}',
      }),
      shape(
        'result',
        '{ "queued": $count(steps.pick.output.json.picks), "picks": steps.pick.output.json.picks }',
      ),
    ],
  }),
  defineTemplate({
    slug: 'dailyStrategicAccounts',
    title: 'Daily strategic accounts review',
    description:
      'Every working morning: reviews the strategic accounts (open deals, last touch, news), flags the ones at risk or ready to grow, and posts the brief to the CRM.',
    category: 'sales',
    keywords: ['daily', 'strategic accounts', 'key accounts', 'account review', 'risk', 'upsell'],
    source_document: '000',
    inputs: { ...SITE_ID_INPUT },
    credit_cost: 15,
    estimated_duration: '2-5 min',
    trigger_config: { type: 'scheduled', enabled: true, schedule: '30 8 * * 1-5', timezone: 'UTC' },
    steps: [
      crm('accounts', 'GET', '/accounts?tier=strategic'),
      crm('deals', 'GET', '/deals?status=open'),
      think(
        'review',
        'You are a key account manager. Reply with a JSON object: { "at_risk": [{ "account_id", "why", "action" }], "growth": [{ "account_id", "why", "action" }], "summary": string }.',
        'Strategic accounts: {{ steps.accounts.output.body }}\nOpen deals: {{ steps.deals.output.body }}',
      ),
      crm('post', 'POST', '/briefs', { kind: 'strategic_accounts', brief: '{{ steps.review.output.json }}' }),
      shape('result', 'steps.review.output.json'),
    ],
  }),
];
