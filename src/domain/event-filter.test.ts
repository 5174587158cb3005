import { describe, expect, it } from 'vitest';
import { checkEventFilters, matchesFilters } from './event-filter.js';

const email = {
  from: 'x@y.com',
  subject: 'Invoice #42 overdue',
  labels: ['billing', 'urgent'],
  payload: { amount: 5, currency: 'EUR', due: '2025-06-01' },
  items: [{ sku: 'A-1' }],
};

describe('matchesFilters', () => {
  it('accepts every event without filters', () => {
    expect(matchesFilters(undefined, email)).toBe(true);
    expect(matchesFilters({}, 'not even an object')).toBe(true);
  });

  it('compares values on dotted paths exactly', () => {
    expect(matchesFilters({ from: 'x@y.com', 'payload.amount': 5 }, email)).toBe(true);
    expect(matchesFilters({ 'items.0.sku': 'A-1' }, email)).toBe(true);
    expect(matchesFilters({ 'payload.amount': '5' }, email)).toBe(false);
    expect(matchesFilters({ from: 'someone@else.com' }, email)).toBe(false);
    expect(matchesFilters({ 'payload.missing': null }, email)).toBe(false);
    expect(matchesFilters({ labels: ['billing', 'urgent'] }, email)).toBe(true);
  });

  it('$in: one of a list', () => {
    expect(matchesFilters({ 'payload.currency': { $in: ['EUR', 'USD'] } }, email)).toBe(true);
    expect(matchesFilters({ 'payload.currency': { $in: ['GBP'] } }, email)).toBe(false);
    expect(matchesFilters({ 'payload.nothing': { $in: [null] } }, email)).toBe(false);
  });

  it('$exists: the path is there, or is not', () => {
    expect(matchesFilters({ 'payload.amount': { $exists: true } }, email)).toBe(true);
    expect(matchesFilters({ 'payload.refund': { $exists: false } }, email)).toBe(true);
    expect(matchesFilters({ 'payload.refund': { $exists: true } }, email)).toBe(false);
  });

  it('$gt $gte $lt $lte: numbers with numbers, strings with strings', () => {
    expect(matchesFilters({ 'payload.amount': { $gt: 4, $lte: 5 } }, email)).toBe(true);
    expect(matchesFilters({ 'payload.amount': { $gte: 6 } }, email)).toBe(false);
    expect(matchesFilters({ 'payload.amount': { $lt: 5 } }, email)).toBe(false);
    expect(matchesFilters({ 'payload.due': { $lt: '2025-07-01' } }, email)).toBe(true);
    expect(matchesFilters({ 'payload.amount': { $gt: '1' } }, email)).toBe(false);
    expect(matchesFilters({ 'payload.none': { $lt: 100 } }, email)).toBe(false);
  });

  it('$contains: a substring of a string, or an element of an array', () => {
    expect(matchesFilters({ subject: { $contains: 'overdue' } }, email)).toBe(true);
    expect(matchesFilters({ subject: { $contains: 'paid' } }, email)).toBe(false);
    expect(matchesFilters({ labels: { $contains: 'urgent' } }, email)).toBe(true);
    expect(matchesFilters({ labels: { $contains: 'spam' } }, email)).toBe(false);
    expect(matchesFilters({ 'payload.amount': { $contains: '5' } }, email)).toBe(false);
  });
});

describe('checkEventFilters', () => {
  it('accepts equality values and known operators', () => {
    expect(() =>
      checkEventFilters({
        from: 'x@y.com',
        'payload.amount': { $gte: 5, $lt: 10 },
        labels: { $contains: 'urgent' },
        'payload.refund': { $exists: false },
        'payload.currency': { $in: ['EUR'] },
        nested: { exact: 'object' },
      }),
    ).not.toThrow();
  });

  it('refuses an unknown operator or a bad operand with a 400 naming the filter', () => {
    const cases: [unknown, string][] = [
      [{ amount: { $gte: 5, $regex: 'x' } }, 'trigger_config.filters.amount'],
      [{ amount: { $in: 5 } }, 'trigger_config.filters.amount'],
      [{ flag: { $exists: 'yes' } }, 'trigger_config.filters.flag'],
      [{ 'payload.amount': { $gt: [1] } }, 'trigger_config.filters.payload.amount'],
      [{ 'a..b': 1 }, 'trigger_config.filters.a..b'],
      ['from=x', 'trigger_config.filters'],
    ];
    for (const [filters, field] of cases) {
      expect(() => checkEventFilters(filters)).toThrow(expect.objectContaining({ status: 400, field }));
    }
  });
});
