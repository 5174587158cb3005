import { describe, expect, it } from 'vitest';
import { NotJsonError, toStorableJson, toStorableJsonText } from './storable-json.js';

describe('toStorableJson', () => {
  it('replaces lone surrogates and NUL in strings and keys with U+FFFD, nested', () => {
    const value = {
      lone: '\ud800',
      low: 'x\udfffy',
      nul: 'a\u0000b',
      pair: '\ud83d\ude00',
      '\udfff': { list: ['\ud800\u0000', { 'k\u0000': 1 }] },
    };
    expect(toStorableJson(value)).toEqual({
      lone: '\ufffd',
      low: 'x\ufffdy',
      nul: 'a\ufffdb',
      pair: '\ud83d\ude00',
      '\ufffd': { list: ['\ufffd\ufffd', { 'k\ufffd': 1 }] },
    });
  });

  it('gives what JSON.stringify and JSON.parse give for values JSON has no word for', () => {
    const at = new Date(0);
    const value = {
      gone: undefined,
      fn: () => 1,
      list: [undefined, NaN, Infinity, -0, () => 1],
      at,
      map: new Map([[1, 2]]),
      boxed: new String('s'),
    };
    expect(toStorableJson(value)).toEqual(JSON.parse(JSON.stringify(value)));
    expect(Object.is((toStorableJson([-0]) as number[])[0], 0)).toBe(true);
    expect(toStorableJson(undefined)).toBeNull();
  });

  it('keeps a __proto__ key as a key', () => {
    const value = JSON.parse('{"__proto__": {"x": 1}}');
    const stored = toStorableJson(value) as Record<string, unknown>;
    expect(Object.getPrototypeOf(stored)).toBe(Object.prototype);
    expect(Object.keys(stored)).toEqual(['__proto__']);
  });

  it('names where a BigInt or a cycle is', () => {
    expect(() => toStorableJson({ a: [1, 2n] })).toThrow(new NotJsonError('$.a[1]', 'is a BigInt'));
    const cyclic: Record<string, unknown> = { b: {} };
    (cyclic.b as Record<string, unknown>).back = cyclic;
    expect(() => toStorableJson(cyclic)).toThrow(/^\$\.b\.back refers to an object that contains it/);
    const deep = JSON.parse('['.repeat(100_000) + ']'.repeat(100_000));
    expect(() => toStorableJson(deep)).toThrow(new NotJsonError('$', 'is nested too deeply'));
    const shared = { x: 1 };
    expect(toStorableJson({ one: shared, two: shared })).toEqual({ one: { x: 1 }, two: { x: 1 } });
  });
});

describe('toStorableJsonText', () => {
  it('is JSON.stringify when nothing needs replacing, backslashes included', () => {
    const value = { text: 'caf\u00e9 \ud83d\ude00', escaped: '\\u0000 and \\ud800 stay' };
    expect(toStorableJsonText(value)).toBe(JSON.stringify(value));
    expect(toStorableJsonText(undefined)).toBe('null');
  });

  it('replaces lone surrogates and NUL', () => {
    expect(JSON.parse(toStorableJsonText({ '\ud800': 'a\u0000b' }))).toEqual({ '\ufffd': 'a\ufffdb' });
  });
});
