import type { WorkflowTemplate } from '../domain/template.js';
import { crm, defineTemplate, service, shape, SITE_ID_INPUT, stringInput, think } from './template-steps.js';

// Document 000's support, team and robot actions. Robots are browser-automation sessions
// of a robot service (secrets ROBOT_URL, ROBOT_TOKEN) that report back with events.

const ROBOT_ID = { robot_id: stringInput('The id startRobot returned') };

export const SUPPORT_TEMPLATES: readonly WorkflowTemplate[] = [
  defineTemplate({
    slug: 'customerSupportMessage',
    title: 'Customer support message',
    description:
      'Answers a customer support message from the knowledge base, and opens a ticket for a person when the answer is not there or the customer is upset.',
    category: 'support',
    keywords: ['support', 'customer', 'help desk', 'ticket', 'answer', 'faq'],
    source_document: '000',
    inputs: {
      ...SITE_ID_INPUT,
      message: stringInput('What the customer wrote'),
      customer: stringInput('Who wrote it (name, email or CRM id)', false),
    },
    credit_cost: 3,
    estimated_duration: '1 min',
    steps: [
      crm('knowledge', 'GET', '/knowledge'),
      think(
        'answer',
        'You are a patient support agent. Answer only from the knowledge given. Reply with a JSON object: { "reply": string, "escalate": boolean, "category": string, "sentiment": "positive"|"neutral"|"negative" }.',
        'Knowledge: {{ steps.knowledge.output.body }}\nCustomer message: {{ input }}',
      ),
      {
        id: 'route',
        tool: 'condition',
        params: { expression: 'escalate = true', data: '{{ steps.answer.output.json }}', else: 'result' },
      },
      crm('ticket', 'POST', '/tickets', {
        message: '{{ input.message }}',
        draft_reply: '{{ steps.answer.output.json.reply }}',
        category: '{{ steps.answer.output.json.category }}',
      }),
      shape('result', 'steps.answer.output.json'),
    ],
  }),
  defineTemplate({
    slug: 'scheduleCustomerSupport',
    title: 'Schedule customer support follow-up',
    description:
      'Waits until the given time, then checks in with the customer by email about their support request and logs the check-in in the CRM.',
    category: 'support',
    keywords: ['support', 'schedule', 'follow up', 'check in', 'customer', 'reminder'],
    source_document: '000',
    inputs: {
      ...SITE_ID_INPUT,
      customer_email: stringInput('Where to send the check-in'),
      topic: stringInput('What the support request was about'),
      follow_up_at: stringInput('When to check in, ISO-8601 with a zone, e.g. 2030-01-01T09:00:00Z'),
    },
    credit_cost: 2,
    estimated_duration: '1 min after the wait',
    steps: [
      { id: 'wait', tool: 'delay', params: { until: '{{ input.follow_up_at }}' } },
      think(
        'draft',
        'You write short support check-in emails. Reply with a JSON object: { "subject": one line, "text": string }.',
        'Check in about: {{ input.topic }}',
      ),
      {
        id: 'send',
        tool: 'email',
        params: {
          to: '{{ input.customer_email }}',
          subject: '{{ steps.draft.output.json.subject }}',
          text: '{{ steps.draft.output.json.text }}',
        },
      },
      crm('log', 'POST', '/activities', {
        channel: 'email',
        to: '{{ input.customer_email }}',
        kind: 'support_check_in',
      }),
      shape(
        'result',
        '{ "sent": true, "to": input.customer_email, "subject": steps.draft.output.json.subject }',
      ),
    ],
  }),
  defineTemplate({
    slug: 'dailyStandUp',
    title: 'Daily stand-up',
    description:
      "Every working morning: summarises yesterday's activity and today's open tasks into a stand-up (done, planned, blocked) and posts it to the CRM.",
    category: 'team',
    keywords: ['daily', 'stand-up', 'standup', 'team', 'summary', 'tasks'],
    source_document: '000',
    inputs: { ...SITE_ID_INPUT },
    credit_cost: 5,
    estimated_duration: '1-2 min',
    trigger_config: { type: 'scheduled', enabled: true, schedule: '0 9 * * 1-5', timezone: 'UTC' },
    steps: [
      crm('activity', 'GET', '/activities?since=-1d'),
      crm('tasks', 'GET', '/tasks?status=open'),
      think(
        'standup',
        'You write team stand-ups. Reply with a JSON object: { "done": [string], "planned": [string], "blocked": [string], "summary": string }.',
        "Yesterday's activity: {{ steps.activity.output.body }}\nOpen tasks: {{ steps.tasks.output.body }}",
      ),
      crm('post', 'POST', '/standups', '{{ steps.standup.output.json }}'),
      shape('result', 'steps.standup.output.json'),
    ],
  }),
  defineTemplate({
    slug: 'startRobot',
    title: 'Start robot',
    description:
      'Starts a browser robot with instructions (and a start page), waits up to two minutes for it to report ready, and returns its id.',
    category: 'robots',
    keywords: ['robot', 'start', 'browser', 'automation', 'agent', 'session'],
    source_document: '000',
    inputs: {
      ...SITE_ID_INPUT,
      instructions: stringInput('What the robot should do'),
      start_url: stringInput('The page it starts on', false),
    },
    credit_cost: 5,
    estimated_duration: '1-2 min',
    steps: [
      shape(
        'request',
        '{ "site_id": input.site_id, "instructions": input.instructions, "start_url": input.start_url }',
      ),
      service('ROBOT', 'start', 'POST', '/robots', '{{ steps.request.output }}'),
      {
        id: 'ready',
        tool: 'wait_for_event',
        params: {
          event_type: 'robot.ready',
          match: { robot_id: '{{ steps.start.output.body.id }}' },
          timeout: '2m',
          on_timeout: 'continue',
        },
      },
      shape('result', '{ "robot_id": steps.start.output.body.id, "ready": steps.ready.output.received }'),
    ],
  }),
  defineTemplate({
    slug: 'promptRobot',
    title: 'Prompt robot',
    description: 'Gives a running browser robot its next instruction and returns what it answered.',
    category: 'robots',
    keywords: ['robot', 'prompt', 'instruct', 'browser', 'automation'],
    source_document: '000',
    inputs: { ...SITE_ID_INPUT, ...ROBOT_ID, prompt: stringInput('The instruction') },
    credit_cost: 3,
    estimated_duration: '1 min',
    steps: [
      service('ROBOT', 'prompt', 'POST', '/robots/{{ input.robot_id }}/prompts', {
        prompt: '{{ input.prompt }}',
      }),
      shape('result', '{ "robot_id": input.robot_id, "answer": steps.prompt.output.body }'),
    ],
  }),
  defineTemplate({
    slug: 'stopRobot',
    title: 'Stop robot',
    description: 'Stops a browser robot and returns its final report.',
    category: 'robots',
    keywords: ['robot', 'stop', 'browser', 'automation', 'end session'],
    source_document: '000',
    inputs: { ...SITE_ID_INPUT, ...ROBOT_ID },
    credit_cost: 1,
    estimated_duration: '1 min',
    steps: [
      service('ROBOT', 'stop', 'POST', '/robots/{{ input.robot_id }}/stop', {}),
      { id: 'note', tool: 'log', params: { message: 'robot {{ input.robot_id }} stopped' } },
      shape('result', '{ "robot_id": input.robot_id, "stopped": true, "report": steps.stop.output.body }'),
    ],
  }),
];
