import { createHash } from 'node:crypto';
import { createTransport } from 'nodemailer';
import type { NodemailerError } from 'nodemailer';
import { z } from 'zod';
import { StepFailure, permanentFailure } from '../domain/errors.js';
import type { StepTool } from './tool.js';

const address = z
  .string()
  .max(320)
  .refine((text) => text.includes('@'), 'an address looks like "ada@example.com" or "Ada <ada@example.com>"');
const recipients = z.union([address, z.array(address).min(1).max(100)]);
const oneLine = (field: string) =>
  z.string().refine((text) => !/[\r\n]/.test(text), `${field} must be a single line`);

const emailParamsSchema = z
  .strictObject({
    to: recipients,
    cc: recipients.optional(),
    bcc: recipients.optional(),
    subject: oneLine('subject').pipe(z.string().max(998)),
    text: z.string().max(1_000_000).optional(),
    html: z.string().max(1_000_000).optional(),
    from: address.optional(),
    reply_to: address.optional(),
  })
  .refine((p) => p.text !== undefined || p.html !== undefined, {
    message: 'give text, html or both',
    path: ['text'],
  });
/** Params of the `email` tool, as validated. */
export type EmailParams = z.infer<typeof emailParamsSchema>;

/**
 * The same Message-ID on every attempt of a step lets receiving systems drop a duplicate
 * left by an attempt that sent but crashed before committing.
 */
function messageIdFor(idempotencyKey: string, from: string): string {
  const domain = /@([^\s@>]+)>?\s*$/.exec(from)?.[1] ?? 'stepwise.invalid';
  return `<${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 32)}@${domain}>`;
}

const addressText = (entry: unknown): string =>
  typeof entry === 'string' ? entry : String((entry as { address?: string }).address ?? entry);

function sendFailure(error: unknown, signal: AbortSignal): unknown {
  if (signal.aborted) return error;
  const e = error as NodemailerError;
  const reason = e.response ?? e.message;
  if (e.permanent === true || e.code === 'EAUTH') {
    return permanentFailure('EMAIL_REJECTED', `the SMTP server refused the email: ${reason}`, {
      smtp_code: e.responseCode,
    });
  }
  return new StepFailure('EMAIL_FAILED', `sending the email failed: ${reason}`, {
    details: { smtp_code: e.responseCode },
    cause: error,
  });
}

/** The `email` tool: sends one email through the configured SMTP server. */
export const emailTool: StepTool<EmailParams> = {
  name: 'email',
  description:
    'Sends an email through the server in SMTP_URL: to (an address or a list), optional cc and bcc, subject, text ' +
    'and/or html, from (default: the configured sender), reply_to. Output: { message_id, accepted, rejected }. ' +
    'The Message-ID is the same on every retry of the step so receivers can drop duplicates. A permanent SMTP ' +
    'refusal (5xx) fails the step without retrying.',
  params: emailParamsSchema,
  async execute(params, ctx) {
    const { smtpUrl, emailFrom } = ctx.settings;
    if (!smtpUrl) {
      throw permanentFailure(
        'EMAIL_NOT_CONFIGURED',
        'the email tool needs SMTP_URL (e.g. smtp://user:pass@host:587) to be set',
      );
    }
    const from = params.from ?? emailFrom;
    const transport = createTransport(smtpUrl);
    try {
      const info = await transport.sendMail({
        from,
        to: params.to,
        cc: params.cc,
        bcc: params.bcc,
        replyTo: params.reply_to,
        subject: params.subject,
        text: params.text,
        html: params.html,
        messageId: messageIdFor(ctx.idempotency_key, from),
        headers: { 'X-Stepwise-Idempotency-Key': ctx.idempotency_key },
        signal: ctx.signal,
      });
      return {
        kind: 'done',
        output: {
          message_id: info.messageId,
          accepted: info.accepted.map(addressText),
          rejected: info.rejected.map(addressText),
        },
      };
    } catch (error) {
      throw sendFailure(error, ctx.signal);
    } finally {
      transport.close();
    }
  },
};
