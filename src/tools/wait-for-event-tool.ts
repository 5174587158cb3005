import { z } from 'zod';
import { permanentFailure } from '../domain/errors.js';
import type { Millis } from '../domain/model.js';
import { MAX_WAIT_MS, durationText, parseDuration } from './delay-tool.js';
import type { StepTool, ToolOutcome } from './tool.js';
import { matchesFilters } from '../domain/event-filter.js';

const waitForEventParamsSchema = z
  .strictObject({
    event_type: z.string().min(1).max(200),
    /** Dotted path into the event data → the value it must equal. */
    match: z.record(z.string().min(1), z.unknown()).optional(),
    timeout_ms: z.number().int().min(1).max(MAX_WAIT_MS).optional(),
    timeout: durationText.optional(),
    on_timeout: z.enum(['continue', 'fail']).default('continue'),
  })
  .refine((p) => p.timeout_ms === undefined || p.timeout === undefined, {
    message: 'give timeout_ms or timeout, not both',
    path: ['timeout'],
  });
/** Params of the `wait_for_event` tool, as validated. */
export type WaitForEventParams = z.infer<typeof waitForEventParamsSchema>;

interface WaitState {
  deadline: Millis | null;
  /**
   * When the run reached the wait (the previous step began): events stored since then
   * match, so a callback that arrives before the run is parked counts. Absent in waits
   * parked before it was kept.
   */
  began_at?: Millis;
}

/**
 * Whether event data satisfies a `match`: every dotted path (array items by index, e.g.
 * `items.0.sku`) must exist and equal the expected JSON value exactly (`"42"` is not `42`),
 * or pass the operators an event trigger's filters accept (`{ "$gte": 5 }`).
 * An empty match accepts every event.
 *
 * @example matchesEvent({ 'order.id': 42 }, { order: { id: 42, total: 9 } }) // true
 */
export function matchesEvent(match: Record<string, unknown>, data: unknown): boolean {
  return matchesFilters(match, data);
}

/** The `wait_for_event` tool: parks the run until a matching event arrives or the timeout passes. */
export const waitForEventTool: StepTool<WaitForEventParams> = {
  name: 'wait_for_event',
  description:
    'Pauses the run until an event of event_type arrives whose data matches `match` (dotted path → expected value, ' +
    'exact equality), or until timeout_ms / timeout ("30m", "PT1H") passes; without a timeout it waits indefinitely. ' +
    'Output: { received, event, timed_out }. On timeout, on_timeout "continue" (default) outputs ' +
    '{ received: false, event: null, timed_out: true }; "fail" fails the step with EVENT_TIMEOUT.',
  params: waitForEventParamsSchema,
  async execute(params, ctx) {
    const match = params.match ?? {};
    const park = (deadline: Millis | null, beganAt: Millis | undefined): ToolOutcome => ({
      kind: 'suspend',
      state: { deadline, began_at: beganAt } satisfies WaitState,
      wake_at: deadline,
      wait: { kind: 'event', event_type: params.event_type, match, since: beganAt ?? null },
    });
    if (!ctx.resume) {
      const timeout =
        params.timeout_ms ?? (params.timeout === undefined ? undefined : parseDuration(params.timeout)!);
      const beganAt = ctx.reached_at;
      return park(timeout === undefined ? null : beganAt + timeout, beganAt);
    }
    const { deadline, began_at: beganAt } = ctx.resume.state as WaitState;
    const { payload } = ctx.resume;
    if (payload !== null && payload !== undefined) {
      return { kind: 'done', output: { received: true, event: payload, timed_out: false } };
    }
    // Woken with neither an event nor a timer to have fired: keep waiting.
    if (deadline === null || ctx.now() < deadline) return park(deadline, beganAt);
    if (params.on_timeout === 'fail') {
      const waited = params.timeout ?? `${params.timeout_ms} ms`;
      const matching = Object.keys(match).length > 0 ? ` matching ${JSON.stringify(match)}` : '';
      throw permanentFailure(
        'EVENT_TIMEOUT',
        `no '${params.event_type}' event${matching} arrived within ${waited}`,
      );
    }
    return { kind: 'done', output: { received: false, event: null, timed_out: true } };
  },
};
