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

// Document 000's campaign, content and site-analysis actions.

const CONTEXT = { context: stringInput('Extra instructions for the model', false) };

export const MARKETING_TEMPLATES: readonly WorkflowTemplate[] = [
  defineTemplate({
    slug: 'buildCampaigns',
    title: 'Build campaigns',
    description:
      'Plans a multi-channel campaign per segment (goal, audience, sequence of touches, copy) and saves the drafts to the CRM for review.',
    category: 'marketing',
    keywords: ['campaign', 'campaigns', 'outreach', 'sequence', 'marketing', 'segments'],
    source_document: '000',
    inputs: {
      ...SITE_ID_INPUT,
      goal: stringInput(
        'What the campaigns should achieve, e.g. "book demos with logistics companies"',
        false,
      ),
      ...CONTEXT,
    },
    credit_cost: 20,
    estimated_duration: '3-6 min',
    steps: [
      crm('segments', 'GET', '/segments'),
      crm('icp', 'GET', '/icp'),
      think(
        'plan',
        'You are a B2B campaign strategist. Reply with a JSON object: { "campaigns": [{ "name", "segment", "goal", "channels": [string], "touches": [{ "day": integer, "channel", "subject", "message" }] }] }.',
        'Segments: {{ steps.segments.output.body }}\nIdeal client profile: {{ steps.icp.output.body }}\nRequest: {{ input }}',
      ),
      crm('save', 'POST', '/campaigns/drafts', '{{ steps.plan.output.json }}'),
      shape(
        'result',
        '{ "campaigns": steps.plan.output.json.campaigns.{ "name": name, "touches": $count(touches) } }',
      ),
    ],
  }),
  defineTemplate({
    slug: 'buildContent',
    title: 'Build content',
    description:
      'Writes a piece of content (blog post, social posts, newsletter) on a topic in the voice of the site, with a title, outline, body and a short summary, and saves it as a draft.',
    category: 'content',
    keywords: ['content', 'blog', 'article', 'post', 'newsletter', 'copywriting', 'write'],
    source_document: '000',
    inputs: {
      ...SITE_ID_INPUT,
      topic: stringInput('What to write about'),
      format: stringInput('blog_post, social_posts or newsletter (default blog_post)', false),
      ...CONTEXT,
    },
    credit_cost: 10,
    estimated_duration: '2-4 min',
    steps: [
      crm('voice', 'GET', '/brand'),
      think(
        'write',
        'You are a senior content writer. Match the brand voice given. Reply with a JSON object: { "title", "outline": [string], "body": string (markdown), "summary": string, "keywords": [string] }.',
        'Brand: {{ steps.voice.output.body }}\nBrief: {{ input }}',
      ),
      crm('save', 'POST', '/content/drafts', {
        topic: '{{ input.topic }}',
        content: '{{ steps.write.output.json }}',
      }),
      shape('result', '$merge([{ "topic": input.topic }, steps.write.output.json])'),
    ],
  }),
  defineTemplate({
    slug: 'analyzeSite',
    title: 'Analyze site',
    description:
      'Reads a website and reports what it offers, who it is for, how clear its calls to action are, and the top fixes for conversion and SEO.',
    category: 'marketing',
    keywords: ['website', 'site', 'analyze', 'audit', 'seo', 'conversion', 'landing page'],
    source_document: '000',
    inputs: {
      ...SITE_ID_INPUT,
      url: stringInput('The page to analyze, e.g. https://example.com'),
      ...CONTEXT,
    },
    credit_cost: 10,
    estimated_duration: '1-3 min',
    steps: [
      fetchPage('page', '{{ input.url }}'),
      shape(
        'excerpt',
        '{ "url": input.url, "html": $substring($string(steps.page.output.body), 0, 12000), "instructions": input.context }',
      ),
      think(
        'analysis',
        'You are a conversion and SEO consultant. Reply with a JSON object: { "offer", "audience", "value_proposition", "cta_clarity": integer 0..10, "seo_issues": [string], "top_fixes": [string] }.',
        'Analyze this page: {{ steps.excerpt.output }}',
      ),
      crm('save', 'POST', '/sites/analysis', {
        url: '{{ input.url }}',
        analysis: '{{ steps.analysis.output.json }}',
      }),
      shape('result', '$merge([{ "url": input.url }, steps.analysis.output.json])'),
    ],
  }),
];
