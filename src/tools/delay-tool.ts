import { z } from 'zod';
import type { Millis } from '../domain/model.js';
import type { StepTool } from './tool.js';

/** The longest a delay or an event wait may last. */
export const MAX_WAIT_MS = 366 * 86_400_000;

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const SHORT_FORM = /^(?:\s*\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w))+\s*$/i;
const SHORT_PART = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)/gi;
const NUMBER = String.raw`(\d+(?:\.\d+)?)`;
const ISO_FORM = new RegExp(
  `^P(?:${NUMBER}W)?(?:${NUMBER}D)?(?:T(?:${NUMBER}H)?(?:${NUMBER}M)?(?:${NUMBER}S)?)?$`,
  'i',
);

/**
 * Milliseconds in a duration written as `"500ms"`, `"90s"`, `"5m"`, `"2h"`, `"1d"`,
 * `"1w"`, combinations such as `"1h30m"`, or ISO-8601 `"PT5M"` / `"P1DT2H"` (weeks, days
 * and time; years and months are refused because their length varies). Null when the text
 * is none of these.
 */
export function parseDuration(text: string): number | null {
  if (SHORT_FORM.test(text)) {
    let total = 0;
    for (const [, amount, unit] of text.matchAll(SHORT_PART))
      total += Number(amount) * UNIT_MS[unit!.toLowerCase()]!;
    return Math.round(total);
  }
  const iso = ISO_FORM.exec(text.trim());
  if (!iso || /T$/i.test(text.trim()) || iso.slice(1).every((part) => part === undefined)) return null;
  const [weeks, days, hours, minutes, seconds] = iso.slice(1).map((part) => Number(part ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  return Math.round(
    weeks * UNIT_MS.w! + days * UNIT_MS.d! + hours * UNIT_MS.h! + minutes * UNIT_MS.m! + seconds * 1000,
  );
}

const DURATION_HINT = 'a duration looks like "90s", "5m", "2h", "1d", "1h30m" or ISO-8601 "PT5M"';

/** A duration string param, checked against {@link MAX_WAIT_MS}. */
export const durationText = z
  .string()
  .refine((text) => parseDuration(text) !== null, DURATION_HINT)
  .refine((text) => (parseDuration(text) ?? 0) <= MAX_WAIT_MS, 'a duration may not exceed 366 days');

const delayParamsSchema = z
  .strictObject({
    duration_ms: z.number().int().min(0).max(MAX_WAIT_MS).optional(),
    duration: durationText.optional(),
    /** An ISO-8601 timestamp with a zone, e.g. 2030-01-01T09:00:00Z. */
    until: z.iso
      .datetime({
        offset: true,
        error: 'until must be an ISO-8601 timestamp with a zone, e.g. 2030-01-01T09:00:00Z',
      })
      .optional(),
  })
  .refine((p) => [p.duration_ms, p.duration, p.until].filter((v) => v !== undefined).length === 1, {
    message: 'give exactly one of duration_ms, duration or until',
  });
/** Params of the `delay` tool, as validated. */
export type DelayParams = z.infer<typeof delayParamsSchema>;

interface DelayState {
  until: Millis;
  started_at: Millis;
}

const finished = (until: Millis, waited: number) =>
  ({
    kind: 'done',
    output: { waited_ms: Math.max(0, waited), until: new Date(until).toISOString() },
  }) as const;

/** The `delay` tool: parks the run until a time, holding no worker meanwhile. */
export const delayTool: StepTool<DelayParams> = {
  name: 'delay',
  description:
    'Pauses the run for duration_ms, for a duration ("90s", "5m", "2h", "1d", ISO-8601 "PT5M"), or until an ' +
    'ISO-8601 timestamp; exactly one. At most 366 days. The waiting run holds no worker. ' +
    'Output: { waited_ms, until } (until as an ISO timestamp). A time already past continues at once.',
  params: delayParamsSchema,
  async execute(params, ctx) {
    const now = ctx.now();
    if (ctx.resume) {
      const state = ctx.resume.state as DelayState;
      return finished(state.until, now - state.started_at);
    }
    const until =
      params.until !== undefined
        ? Date.parse(params.until)
        : now + (params.duration_ms ?? parseDuration(params.duration!)!);
    if (until <= now) return finished(until, 0);
    const state: DelayState = { until, started_at: now };
    return { kind: 'suspend', state, wake_at: until };
  },
};
