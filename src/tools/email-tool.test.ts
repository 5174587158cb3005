import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSmtpSink } from '../../test/support/smtp-sink.js';
import type { SmtpSink } from '../../test/support/smtp-sink.js';
import { createToolContext, runTool } from '../../test/support/tool-context.js';
import { emailTool } from './email-tool.js';

describe('email tool', () => {
  let sink: SmtpSink;
  beforeAll(async () => {
    sink = await startSmtpSink();
  });
  beforeEach(() => {
    sink.messages.length = 0;
    sink.rejectRecipients.clear();
    sink.dataDelayMs = 0;
    sink.dataFailure = null;
  });
  afterAll(() => sink.close());

  const context = () => createToolContext({ settings: { smtpUrl: sink.url } });

  it('delivers the message with subject, recipients, body and an idempotency-derived Message-ID', async () => {
    const outcome = await runTool(
      emailTool,
      {
        to: ['ada@example.com', 'Bob <bob@example.com>'],
        cc: 'carol@example.com',
        bcc: 'dan@example.com',
        subject: 'Your report is ready',
        text: 'Hello Ada, the report is attached.',
        reply_to: 'support@example.com',
      },
      context(),
    );
    expect(outcome).toMatchObject({
      kind: 'done',
      output: {
        message_id: expect.stringMatching(/^<[0-9a-f]{32}@example\.test>$/),
        accepted: ['ada@example.com', 'bob@example.com', 'carol@example.com', 'dan@example.com'],
        rejected: [],
      },
    });
    const [mail] = sink.messages;
    expect(mail!.from).toBe('stepwise@example.test');
    expect(mail!.to).toEqual(['ada@example.com', 'bob@example.com', 'carol@example.com', 'dan@example.com']);
    expect(mail!.subject).toBe('Your report is ready');
    expect(mail!.headers.to).toBe('ada@example.com, Bob <bob@example.com>');
    expect(mail!.headers.cc).toBe('carol@example.com');
    expect(mail!.headers.bcc).toBeUndefined();
    expect(mail!.headers['reply-to']).toBe('support@example.com');
    expect(mail!.headers['x-stepwise-idempotency-key']).toBe('run_test:step_test');
    expect(mail!.headers['message-id']).toBe(
      (outcome as { output: { message_id: string } }).output.message_id,
    );
    expect(mail!.body).toContain('Hello Ada, the report is attached.');
  });

  it('keeps the same Message-ID on a retry of the step', async () => {
    const params = { to: 'ada@example.com', subject: 'Hi', html: '<p>Hi</p>', from: 'Ops <ops@acme.test>' };
    await runTool(emailTool, params, context());
    await runTool(emailTool, params, createToolContext({ settings: { smtpUrl: sink.url }, attempt: 2 }));
    const ids = sink.messages.map((m) => m.headers['message-id']);
    expect(ids[0]).toMatch(/@acme\.test>$/);
    expect(ids[1]).toBe(ids[0]);
    expect(sink.messages[0]!.headers.from).toBe('Ops <ops@acme.test>');
  });

  it('reports recipients the server refused', async () => {
    sink.rejectRecipients.add('gone@example.com');
    const outcome = await runTool(
      emailTool,
      { to: ['ada@example.com', 'gone@example.com'], subject: 's', text: 't' },
      context(),
    );
    expect(outcome).toMatchObject({
      output: { accepted: ['ada@example.com'], rejected: ['gone@example.com'] },
    });
  });

  it('fails permanently on a 5xx refusal and retriably on a 4xx one', async () => {
    sink.dataFailure = { code: 554, message: 'message looks like spam' };
    await expect(
      runTool(emailTool, { to: 'ada@example.com', subject: 's', text: 't' }, context()),
    ).rejects.toMatchObject({
      code: 'EMAIL_REJECTED',
      retriable: false,
      message: expect.stringContaining('554 message looks like spam'),
    });
    sink.dataFailure = { code: 451, message: 'try again later' };
    await expect(
      runTool(emailTool, { to: 'ada@example.com', subject: 's', text: 't' }, context()),
    ).rejects.toMatchObject({
      code: 'EMAIL_FAILED',
      retriable: true,
    });
  });

  it('fails permanently without SMTP_URL', async () => {
    await expect(
      runTool(emailTool, { to: 'ada@example.com', subject: 's', text: 't' }, createToolContext()),
    ).rejects.toMatchObject({
      code: 'EMAIL_NOT_CONFIGURED',
      retriable: false,
    });
  });

  it('stops promptly when the step is aborted', async () => {
    sink.dataDelayMs = 10_000;
    const ctx = context();
    const started = Date.now();
    setTimeout(() => ctx.controller.abort(new Error('cancelled')), 100);
    await expect(
      runTool(emailTool, { to: 'ada@example.com', subject: 's', text: 't' }, ctx),
    ).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(sink.messages).toHaveLength(0);
  });

  it('validates its params', () => {
    const issue = (p: unknown) => {
      const i = emailTool.params.safeParse(p).error?.issues[0];
      return i && `${i.path.join('.')}: ${i.message}`;
    };
    expect(issue({ to: 'ada@example.com', subject: 's' })).toBe('text: give text, html or both');
    expect(issue({ to: 'nobody', subject: 's', text: 't' })).toMatch(/^to: /);
    expect(issue({ to: [], subject: 's', text: 't' })).toMatch(/^to: /);
    expect(issue({ to: 'a@b.c', subject: 'x\r\nBcc: evil@x.y', text: 't' })).toBe(
      'subject: subject must be a single line',
    );
  });
});
