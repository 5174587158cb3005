import { describe, expect, it } from 'vitest';
import { createToolContext, runTool } from '../../test/support/tool-context.js';
import { matchesEvent, waitForEventTool } from './wait-for-event-tool.js';

const NOW = Date.parse('2030-01-01T00:00:00Z');

describe('matchesEvent', () => {
  const data = { order: { id: 42, tags: ['a', 'b'], customer: { tier: 'gold' } }, status: null };

  it('matches dotted paths by exact JSON equality', () => {
    expect(matchesEvent({}, data)).toBe(true);
    expect(matchesEvent({ 'order.id': 42, 'order.customer.tier': 'gold' }, data)).toBe(true);
    expect(matchesEvent({ 'order.tags.1': 'b' }, data)).toBe(true);
    expect(matchesEvent({ 'order.customer': { tier: 'gold' } }, data)).toBe(true);
    expect(matchesEvent({ 'order.tags': ['a', 'b'] }, data)).toBe(true);
    expect(matchesEvent({ status: null }, data)).toBe(true);
  });

  it('refuses different values, types and missing paths', () => {
    expect(matchesEvent({ 'order.id': '42' }, data)).toBe(false);
    expect(matchesEvent({ 'order.id': 43 }, data)).toBe(false);
    expect(matchesEvent({ 'order.tags': ['b', 'a'] }, data)).toBe(false);
    expect(matchesEvent({ 'order.customer': { tier: 'gold', extra: 1 } }, data)).toBe(false);
    expect(matchesEvent({ 'order.missing': null }, data)).toBe(false);
    expect(matchesEvent({ 'order.id.deeper': 1 }, data)).toBe(false);
    expect(matchesEvent({ 'order.id': 42 }, null)).toBe(false);
  });
});

describe('wait_for_event tool', () => {
  const params = { event_type: 'order.paid', match: { 'order.id': 42 }, timeout: '30m' };
  const deadline = NOW + 1_800_000;

  it('suspends on its event with a deadline timer', async () => {
    expect(await runTool(waitForEventTool, params, createToolContext({ now: NOW }))).toEqual({
      kind: 'suspend',
      state: { deadline, began_at: NOW },
      wake_at: deadline,
      wait: { kind: 'event', event_type: 'order.paid', match: { 'order.id': 42 }, since: NOW },
    });
  });

  it('waits without a timer when no timeout is given', async () => {
    expect(await runTool(waitForEventTool, { event_type: 'ping' }, createToolContext({ now: NOW }))).toEqual({
      kind: 'suspend',
      state: { deadline: null, began_at: NOW },
      wake_at: null,
      wait: { kind: 'event', event_type: 'ping', match: {}, since: NOW },
    });
  });

  it('outputs the event it was resumed with', async () => {
    const event = { order: { id: 42 }, amount: 10 };
    const ctx = createToolContext({ now: NOW + 1000, resume: { state: { deadline }, payload: event } });
    expect(await runTool(waitForEventTool, params, ctx)).toEqual({
      kind: 'done',
      output: { received: true, event, timed_out: false },
    });
  });

  it('continues with timed_out on a timer wake by default', async () => {
    const ctx = createToolContext({ now: deadline, resume: { state: { deadline }, payload: null } });
    expect(await runTool(waitForEventTool, params, ctx)).toEqual({
      kind: 'done',
      output: { received: false, event: null, timed_out: true },
    });
  });

  it("fails with EVENT_TIMEOUT on a timer wake when on_timeout is 'fail'", async () => {
    const ctx = createToolContext({ now: deadline, resume: { state: { deadline }, payload: null } });
    await expect(runTool(waitForEventTool, { ...params, on_timeout: 'fail' }, ctx)).rejects.toMatchObject({
      code: 'EVENT_TIMEOUT',
      retriable: false,
      message: `no 'order.paid' event matching {"order.id":42} arrived within 30m`,
    });
  });

  it('keeps waiting when woken with neither an event nor a timer', async () => {
    const ctx = createToolContext({ now: NOW, resume: { state: { deadline: null }, payload: null } });
    expect(await runTool(waitForEventTool, { event_type: 'ping' }, ctx)).toMatchObject({
      kind: 'suspend',
      wake_at: null,
    });
  });

  it('validates its params', () => {
    const message = (p: unknown) => waitForEventTool.params.safeParse(p).error?.issues[0]?.message;
    expect(message({ event_type: 'x', timeout: '5m', timeout_ms: 10 })).toBe(
      'give timeout_ms or timeout, not both',
    );
    expect(message({ event_type: 'x', timeout: 'later' })).toMatch(/^a duration looks like/);
    expect(message({ event_type: 'x', on_timeout: 'retry' })).toMatch(/continue|fail/);
    expect(waitForEventTool.params.safeParse({}).success).toBe(false);
  });
});
