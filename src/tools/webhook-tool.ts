import { createHash } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import { describeUrl, guardedFetch } from './network-guard.js';
import { USER_AGENT, readBodyText, requestFailure, unexpectedStatus } from './http-support.js';
import type { StepTool } from './tool.js';

const MIN_SECRET_BYTES = 16;

/** A Standard Webhooks secret: optional `whsec_` prefix, then base64 of enough random bytes. */
function isWebhookSecret(secret: string): boolean {
  const encoded = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
  return (
    /^[A-Za-z0-9+/]+={0,2}$/.test(encoded) &&
    encoded.length % 4 === 0 &&
    Buffer.from(encoded, 'base64').length >= MIN_SECRET_BYTES
  );
}

const webhookParamsSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'url must be an absolute http:// or https:// URL' }).max(8192),
  payload: z.unknown(),
  // The message never echoes the value: it is a secret.
  secret: z
    .string()
    .refine(
      isWebhookSecret,
      `secret must be a Standard Webhooks secret: "whsec_" then base64 of at least ${MIN_SECRET_BYTES} random bytes (usually "{{ secrets.NAME }}")`,
    ),
  /** When set, the body is the Standard Webhooks envelope { type, timestamp, data }. */
  event_type: z.string().min(1).max(200).optional(),
});
/** Params of the `webhook` tool, as validated. */
export type WebhookParams = z.infer<typeof webhookParamsSchema>;

/** Stable across attempts of one step, so receivers can drop retried deliveries. */
export const webhookIdFor = (idempotencyKey: string): string =>
  `msg_${createHash('sha256').update(idempotencyKey).digest('base64url').slice(0, 32)}`;

/** The `webhook` tool: POSTs a JSON payload signed with the Standard Webhooks scheme. */
export const webhookTool: StepTool<WebhookParams> = {
  name: 'webhook',
  description:
    'POSTs `payload` as JSON to `url`, signed per Standard Webhooks (headers webhook-id, webhook-timestamp, ' +
    'webhook-signature) with `secret`, a "whsec_…" secret usually given as "{{ secrets.NAME }}". With event_type the ' +
    'body is { type, timestamp, data: payload }, else the payload itself. webhook-id stays the same across retries so ' +
    'receivers can dedupe. Output: { status, webhook_id }. A non-2xx answer fails the step (4xx permanently, except ' +
    '408/429).',
  params: webhookParamsSchema,
  async execute(params, ctx) {
    const url = new URL(params.url);
    const request = `POST ${describeUrl(url)}`;
    const sentAt = new Date(ctx.now());
    const body = JSON.stringify(
      params.event_type === undefined
        ? (params.payload ?? null)
        : { type: params.event_type, timestamp: sentAt.toISOString(), data: params.payload ?? null },
    );
    const webhookId = webhookIdFor(ctx.idempotency_key);
    const headers = {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'webhook-id': webhookId,
      'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
      'webhook-signature': new Webhook(params.secret).sign(webhookId, sentAt, body),
    };

    let response: Response;
    let text: string;
    try {
      response = await guardedFetch(
        url,
        { method: 'POST', headers, body, signal: ctx.signal },
        { allowPrivate: ctx.settings.allowPrivateNetwork },
      );
      text = await readBodyText(response, request);
    } catch (error) {
      throw requestFailure(error, request, ctx.signal);
    }
    if (response.status < 200 || response.status > 299)
      throw unexpectedStatus(request, response, text, '2xx', ctx.now());
    return { kind: 'done', output: { status: response.status, webhook_id: webhookId } };
  },
};
