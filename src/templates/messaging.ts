import type { WorkflowTemplate } from '../domain/template.js';
import { crm, defineTemplate, service, shape, SITE_ID_INPUT, stringInput, think } from './template-steps.js';

// Document 000's messaging actions: email through the server's SMTP (SMTP_URL), WhatsApp
// through a WhatsApp Business API gateway (secrets WHATSAPP_URL, WHATSAPP_TOKEN), agent
// replies as signed webhooks (secrets AGENT_WEBHOOK_URL, AGENT_WEBHOOK_SECRET); each
// message sent is logged as an activity in the CRM.

const PHONE = { phone: stringInput('The recipient in E.164 form, e.g. +14155550100') };
const LEAD = { lead_id: stringInput('The CRM lead the message is about', false) };

const logActivity = (channel: string, to: string, body: string) =>
  crm('log', 'POST', '/activities', { channel, to, body, lead_id: '{{ steps.context.output.lead_id }}' });

export const MESSAGING_TEMPLATES: readonly WorkflowTemplate[] = [
  defineTemplate({
    slug: 'sendEmailFromAgent',
    title: 'Send email from agent',
    description:
      'Writes an email from a brief in the voice of the sales agent, sends it, and logs it on the lead in the CRM.',
    category: 'messaging',
    keywords: ['email', 'send', 'agent', 'outreach', 'message', 'mail'],
    source_document: '000',
    inputs: {
      ...SITE_ID_INPUT,
      to: stringInput('The recipient address'),
      brief: stringInput('What the email should say'),
      ...LEAD,
    },
    credit_cost: 3,
    estimated_duration: '1 min',
    steps: [
      shape('context', '{ "lead_id": input.lead_id ? input.lead_id : null }'),
      think(
        'draft',
        'You write short, warm, specific business emails. Reply with a JSON object: { "subject": one line, "text": plain-text body }.',
        'Write this email: {{ input }}',
      ),
      {
        id: 'send',
        tool: 'email',
        params: {
          to: '{{ input.to }}',
          subject: '{{ steps.draft.output.json.subject }}',
          text: '{{ steps.draft.output.json.text }}',
        },
      },
      logActivity('email', '{{ input.to }}', '{{ steps.draft.output.json.text }}'),
      shape(
        'result',
        '{ "sent": true, "to": input.to, "subject": steps.draft.output.json.subject, "message_id": steps.send.output.message_id }',
      ),
    ],
  }),
  defineTemplate({
    slug: 'sendWhatsappFromAgent',
    title: 'Send WhatsApp from agent',
    description:
      'Writes a short WhatsApp message from a brief, sends it through the WhatsApp gateway, and logs it on the lead in the CRM.',
    category: 'messaging',
    keywords: ['whatsapp', 'send', 'agent', 'message', 'chat', 'sms'],
    source_document: '000',
    inputs: { ...SITE_ID_INPUT, ...PHONE, brief: stringInput('What the message should say'), ...LEAD },
    credit_cost: 3,
    estimated_duration: '1 min',
    steps: [
      shape('context', '{ "lead_id": input.lead_id ? input.lead_id : null }'),
      think(
        'draft',
        'You write WhatsApp messages: friendly, under 600 characters, no markdown. Reply with a JSON object: { "text": string }.',
        'Write this message: {{ input }}',
      ),
      service('WHATSAPP', 'send', 'POST', '/messages', {
        to: '{{ input.phone }}',
        type: 'text',
        text: '{{ steps.draft.output.json.text }}',
      }),
      logActivity('whatsapp', '{{ input.phone }}', '{{ steps.draft.output.json.text }}'),
      shape('result', '{ "sent": true, "to": input.phone, "text": steps.draft.output.json.text }'),
    ],
  }),
  defineTemplate({
    slug: 'answerWhatsappMessage',
    title: 'Answer WhatsApp message',
    description:
      'Answers an incoming WhatsApp message with the conversation so far and the knowledge base in mind; hands over to a person when it should.',
    category: 'messaging',
    keywords: ['whatsapp', 'answer', 'reply', 'incoming', 'conversation', 'chat'],
    source_document: '000',
    inputs: { ...SITE_ID_INPUT, ...PHONE, message: stringInput('The message received'), ...LEAD },
    credit_cost: 3,
    estimated_duration: '1 min',
    steps: [
      shape('context', '{ "lead_id": input.lead_id ? input.lead_id : null }'),
      service('WHATSAPP', 'history', 'GET', '/conversations/{{ input.phone }}'),
      crm('knowledge', 'GET', '/knowledge'),
      think(
        'answer',
        'You answer customers on WhatsApp for the business, briefly and only from the knowledge given. Reply with a JSON object: { "text": string, "handover": boolean, "reason": string }.',
        'Knowledge: {{ steps.knowledge.output.body }}\nConversation: {{ steps.history.output.body }}\nNew message: {{ input.message }}',
      ),
      service('WHATSAPP', 'send', 'POST', '/messages', {
        to: '{{ input.phone }}',
        type: 'text',
        text: '{{ steps.answer.output.json.text }}',
      }),
      logActivity('whatsapp', '{{ input.phone }}', '{{ steps.answer.output.json.text }}'),
      shape('result', 'steps.answer.output.json'),
    ],
  }),
  defineTemplate({
    slug: 'agentMessage',
    title: 'Agent message',
    description:
      "Lets one of the site's AI agents answer a message in its own role and instructions, and delivers the reply as a signed webhook.",
    category: 'agents',
    keywords: ['agent', 'message', 'assistant', 'reply', 'chat', 'webhook'],
    source_document: '000',
    inputs: {
      ...SITE_ID_INPUT,
      agent_id: stringInput('The CRM id of the agent who answers'),
      message: stringInput('The message to the agent'),
      conversation_id: stringInput('Kept with the reply so the caller can thread it', false),
    },
    credit_cost: 2,
    estimated_duration: '1 min',
    steps: [
      crm('agent', 'GET', '/agents/{{ input.agent_id }}'),
      think(
        'reply',
        'You are the agent described, following its instructions. Reply with a JSON object: { "text": string, "actions": [string] }.',
        'Agent: {{ steps.agent.output.body }}\nMessage: {{ input.message }}',
      ),
      shape(
        'message',
        '{ "agent_id": input.agent_id, "conversation_id": input.conversation_id, "site_id": input.site_id, "reply": steps.reply.output.json }',
      ),
      {
        id: 'deliver',
        tool: 'webhook',
        params: {
          url: '{{ secrets.AGENT_WEBHOOK_URL }}',
          secret: '{{ secrets.AGENT_WEBHOOK_SECRET }}',
          event_type: 'agent.message',
          payload: '{{ steps.message.output }}',
        },
      },
      shape('result', 'steps.message.output'),
    ],
  }),
];
