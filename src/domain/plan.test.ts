import { describe, expect, it } from 'vitest';
import { loadConfig } from '../app/config.js';
import type { StepwiseError } from './errors.js';
import {
  checkPlanAccess,
  creditPeriod,
  DEFAULT_PLANS,
  monthlyAllowanceReason,
  nextCreditPeriodStart,
  rateWindow,
  resolvePlans,
} from './plan.js';

describe('plans', () => {
  it('defaults to 10 mutating and 120 read calls a minute (document 003)', () => {
    expect(DEFAULT_PLANS.free!.rate_limits).toEqual({ mutating_per_minute: 10, read_per_minute: 120 });
  });

  it('applies overrides field by field; a new plan starts from free', () => {
    const plans = resolvePlans({
      pro: { max_concurrent_runs: 50, rate_limits: { mutating_per_minute: 30 } },
      team: { workflows: { slugs: ['a', 'b'] } },
    });
    expect(plans.pro).toMatchObject({ max_concurrent_runs: 50, workflows: 'all', monthly_credits: 2000 });
    expect(plans.pro!.rate_limits).toEqual({ mutating_per_minute: 30, read_per_minute: 120 });
    expect(plans.team).toMatchObject({
      name: 'team',
      max_concurrent_runs: 3,
      workflows: { slugs: ['a', 'b'] },
    });
  });

  it('checks access by slug list and by credit cost, naming the plan', () => {
    const team = resolvePlans({ team: { workflows: { slugs: ['a'] } } }).team!;
    expect(() => checkPlanAccess(team, { id: 'wf_1', slug: 'a', credit_cost: 5 })).not.toThrow();
    const error = (() => {
      try {
        checkPlanAccess(team, { id: 'wf_2', slug: 'b', credit_cost: 5 });
      } catch (e) {
        return e as StepwiseError;
      }
      return null;
    })();
    expect(error?.code).toBe('PLAN_ACCESS_DENIED');
    expect(error?.message).toContain("'team' plan, which offers 'a'");
  });

  it('computes fixed one-minute windows', () => {
    expect(rateWindow(120_000 + 15_500)).toEqual({ start: 120_000, resetSeconds: 45 });
  });

  it('makes credit periods of UTC calendar months, whatever the local time zone', () => {
    const lastMinute = Date.UTC(2024, 10, 30, 23, 59, 59, 999);
    expect(creditPeriod(lastMinute)).toBe('2024-11');
    expect(creditPeriod(lastMinute + 1)).toBe('2024-12');
    expect(nextCreditPeriodStart(lastMinute)).toBe(lastMinute + 1);
    expect(nextCreditPeriodStart(Date.UTC(2024, 11, 1))).toBe(Date.UTC(2025, 0, 1));
    expect(creditPeriod(Date.UTC(2025, 0, 1))).toBe('2025-01');
    expect(monthlyAllowanceReason(DEFAULT_PLANS.pro!, '2025-01')).toBe(
      "monthly allowance of the 'pro' plan for 2025-01",
    );
  });

  it('reads STEPWISE_PLANS and STEPWISE_DEFAULT_PLAN, refusing bad values by name', () => {
    const config = loadConfig({
      STEPWISE_PLANS: '{"free":{"max_concurrent_runs":7}}',
      STEPWISE_DEFAULT_PLAN: 'pro',
    });
    expect(config.plans.free!.max_concurrent_runs).toBe(7);
    expect(config.defaultPlan).toBe('pro');
    expect(() => loadConfig({ STEPWISE_PLANS: '{nope' })).toThrow(/STEPWISE_PLANS: must be JSON/);
    expect(() => loadConfig({ STEPWISE_PLANS: '{"free":{"max_concurrent_runs":-1}}' })).toThrow(
      /STEPWISE_PLANS: free.max_concurrent_runs/,
    );
    expect(() => loadConfig({ STEPWISE_DEFAULT_PLAN: 'gold' })).toThrow(
      /STEPWISE_DEFAULT_PLAN: 'gold' is not a plan/,
    );
  });
});
