import type { WorkflowTemplate } from '../domain/template.js';
import { CONTEXT_INPUT, defineTemplate, fetchPage, service, shape, think } from './template-steps.js';

// Document 003's workflows for local service businesses (its examples are an auto shop's
// brake and oil-change queries), with its credit costs and durations. They read the shop's
// website (secret SHOP_URL) and its business data API (secrets SHOP_DATA_URL,
// SHOP_DATA_TOKEN: profile, services, reviews, competitors), and file what they produce
// there as drafts or reports. `configuration.context` arrives as `input.context`.

const site = () => fetchPage('site', '{{ secrets.SHOP_URL }}');
const data = (id: string, path: string) => service('SHOP_DATA', id, 'GET', path);
const file = (kind: string, from: string) =>
  service('SHOP_DATA', 'file', 'POST', '/reports', {
    kind,
    run_id: '{{ run.id }}',
    report: `{{ steps.${from}.output.json }}`,
  });
const SITE_TEXT = '$substring($string(steps.site.output.body), 0, 12000)';

export const SHOP_TEMPLATES: readonly WorkflowTemplate[] = [
  defineTemplate({
    slug: 'ai_shop_checkup',
    title: 'AI Shop Checkup',
    description:
      'Checks how AI assistants see the shop: the questions local customers ask them, whether the website and business profile answer each one, a visibility score and the fixes that matter most.',
    category: 'local business',
    keywords: ['ai visibility', 'checkup', 'audit', 'shop', 'local seo', 'assistant', 'chatgpt'],
    source_document: '003',
    inputs: { ...CONTEXT_INPUT },
    credit_cost: 25,
    estimated_duration: '3-5 min',
    steps: [
      site(),
      data('profile', '/profile'),
      shape(
        'brief',
        `{ "profile": steps.profile.output.body, "site_text": ${SITE_TEXT}, "focus": input.context }`,
      ),
      think(
        'questions',
        'You know how local customers ask AI assistants for a service business. Reply with a JSON object: { "questions": [8 questions a customer near this shop would ask] }.',
        'The shop: {{ steps.brief.output }}',
      ),
      think(
        'audit',
        'You audit AI visibility. For each question decide whether an assistant could recommend this shop from its website and profile alone. Reply with a JSON object: { "score": integer 0..100, "questions": [{ "question", "answered": boolean, "gap" }], "top_fixes": [string], "summary": string }.',
        'Questions: {{ steps.questions.output.json.questions }}\nThe shop: {{ steps.brief.output }}',
      ),
      file('ai_shop_checkup', 'audit'),
      shape('result', 'steps.audit.output.json'),
    ],
  }),
  defineTemplate({
    slug: 'fix_visibility',
    title: 'Fix My Visibility',
    description:
      'Turns the gaps of the latest checkup into ready-to-publish fixes: FAQ entries, schema.org markup and business profile updates, filed as drafts.',
    category: 'local business',
    keywords: ['visibility', 'fix', 'faq', 'schema.org', 'profile', 'local seo'],
    source_document: '003',
    inputs: { ...CONTEXT_INPUT },
    credit_cost: 20,
    estimated_duration: '4-6 min',
    steps: [
      data('checkup', '/reports/latest?kind=ai_shop_checkup'),
      site(),
      data('profile', '/profile'),
      think(
        'fixes',
        'You fix local AI visibility. Reply with a JSON object: { "faq": [{ "question", "answer" }], "json_ld": object (schema.org AutoRepair or LocalBusiness), "profile_updates": [{ "field", "value" }], "summary": string }.',
        `Latest checkup: {{ steps.checkup.output.body }}\nProfile: {{ steps.profile.output.body }}\nWebsite text: {{ steps.site.output.body }}\nFocus: {{ input }}`,
      ),
      service('SHOP_DATA', 'drafts', 'POST', '/drafts', {
        kind: 'visibility_fixes',
        fixes: '{{ steps.fixes.output.json }}',
      }),
      shape(
        'result',
        '{ "faq_entries": $count(steps.fixes.output.json.faq), "profile_updates": $count(steps.fixes.output.json.profile_updates), "summary": steps.fixes.output.json.summary }',
      ),
    ],
  }),
  defineTemplate({
    slug: 'competitive_scan',
    title: 'Conquest Campaign',
    description:
      'Scans the nearby competitors (services, prices, reviews), finds where the shop wins, and drafts a conquest campaign aimed at their customers.',
    category: 'local business',
    keywords: ['competitors', 'competitive', 'conquest', 'campaign', 'scan', 'pricing'],
    source_document: '003',
    inputs: { ...CONTEXT_INPUT },
    credit_cost: 20,
    estimated_duration: '3-5 min',
    steps: [
      data('profile', '/profile'),
      data('competitors', '/competitors'),
      think(
        'scan',
        'You are a local marketing strategist. Reply with a JSON object: { "competitors": [{ "name", "strengths": [string], "weaknesses": [string] }], "our_edges": [string], "campaign": { "offer", "audience", "channels": [string], "messages": [string] } }.',
        'Our shop: {{ steps.profile.output.body }}\nCompetitors: {{ steps.competitors.output.body }}\nFocus: {{ input }}',
      ),
      file('competitive_scan', 'scan'),
      shape('result', 'steps.scan.output.json'),
    ],
  }),
  defineTemplate({
    slug: 'content_refresh',
    title: 'Service Menu Update',
    description:
      "Rewrites the shop's service menu so customers and AI assistants understand each service: clear names, what is included, time taken and price ranges, filed as a draft.",
    category: 'local business',
    keywords: ['service menu', 'content', 'refresh', 'services', 'pricing', 'copy'],
    source_document: '003',
    inputs: { ...CONTEXT_INPUT },
    credit_cost: 15,
    estimated_duration: '4-6 min',
    steps: [
      data('services', '/services'),
      site(),
      think(
        'menu',
        'You write service menus for local businesses. Keep the prices given; never invent one. Reply with a JSON object: { "services": [{ "name", "description", "includes": [string], "duration", "price_range" }], "changes": [string] }.',
        `Current services: {{ steps.services.output.body }}\nWebsite text: {{ steps.site.output.body }}\nFocus: {{ input }}`,
      ),
      service('SHOP_DATA', 'drafts', 'POST', '/drafts', {
        kind: 'service_menu',
        menu: '{{ steps.menu.output.json }}',
      }),
      shape(
        'result',
        '{ "services": $count(steps.menu.output.json.services), "changes": steps.menu.output.json.changes }',
      ),
    ],
  }),
  defineTemplate({
    slug: 'full_service',
    title: 'Full Detail',
    description:
      'Everything at once: the AI visibility checkup, the fixes, a competitor scan, a service menu refresh and review replies, in one report.',
    category: 'local business',
    keywords: ['full', 'detail', 'complete', 'everything', 'audit', 'visibility', 'reviews'],
    source_document: '003',
    inputs: { ...CONTEXT_INPUT },
    credit_cost: 45,
    estimated_duration: '8-12 min',
    timeout_ms: 30 * 60_000,
    steps: [
      site(),
      data('profile', '/profile'),
      data('services', '/services'),
      data('reviews', '/reviews?since=90d'),
      data('competitors', '/competitors'),
      shape(
        'brief',
        `{ "profile": steps.profile.output.body, "services": steps.services.output.body, "reviews": steps.reviews.output.body, "competitors": steps.competitors.output.body, "site_text": ${SITE_TEXT}, "focus": input.context }`,
      ),
      think(
        'audit',
        'You audit a local business end to end. Reply with a JSON object: { "visibility_score": integer 0..100, "gaps": [string], "competitor_edges": [string], "reputation": { "rating_trend", "themes": [string] }, "summary": string }.',
        'The business: {{ steps.brief.output }}',
      ),
      think(
        'plan',
        'You turn an audit into work. Reply with a JSON object: { "faq": [{ "question", "answer" }], "profile_updates": [{ "field", "value" }], "service_menu": [{ "name", "description", "price_range" }], "review_replies": [{ "review_id", "reply" }], "campaign": { "offer", "messages": [string] } }.',
        'Audit: {{ steps.audit.output.json }}\nThe business: {{ steps.brief.output }}',
      ),
      service('SHOP_DATA', 'drafts', 'POST', '/drafts', {
        kind: 'full_service',
        plan: '{{ steps.plan.output.json }}',
      }),
      file('full_service', 'audit'),
      shape('result', '{ "audit": steps.audit.output.json, "plan": steps.plan.output.json }'),
    ],
  }),
  defineTemplate({
    slug: 'reputation_shield',
    title: 'Reputation Shield',
    description:
      'Reads the recent reviews, drafts a reply to each unanswered one, flags the ones that look fake or need the owner, and sums up what customers keep saying.',
    category: 'local business',
    keywords: ['reputation', 'reviews', 'replies', 'ratings', 'shield', 'sentiment'],
    source_document: '003',
    inputs: { ...CONTEXT_INPUT },
    credit_cost: 15,
    estimated_duration: '2-3 min',
    steps: [
      data('reviews', '/reviews?since=30d&answered=false'),
      think(
        'triage',
        'You protect a local business reputation: reply politely and specifically, never argue, invite unhappy customers to call. Reply with a JSON object: { "replies": [{ "review_id", "reply" }], "flagged": [{ "review_id", "why" }], "themes": [string] }.',
        'Reviews: {{ steps.reviews.output.body }}\nFocus: {{ input }}',
      ),
      service('SHOP_DATA', 'drafts', 'POST', '/drafts', {
        kind: 'review_replies',
        replies: '{{ steps.triage.output.json.replies }}',
      }),
      shape(
        'result',
        '{ "replies": $count(steps.triage.output.json.replies), "flagged": steps.triage.output.json.flagged, "themes": steps.triage.output.json.themes }',
      ),
    ],
  }),
];
