import { describe, expect, it } from 'vitest';
import { initialInput, parseObject, withField } from './inputs';

describe('run-now inputs', () => {
  it('prefills the JSON from declared inputs: defaults, else an empty value of the type', () => {
    expect(initialInput(undefined)).toBe('{}');
    expect(
      JSON.parse(
        initialInput({
          site_id: { type: 'string', required: true },
          limit: { type: 'number', default: 5 },
          dry_run: { type: 'boolean' },
          context: { type: 'object' },
        }),
      ),
    ).toEqual({ site_id: '', limit: 5, dry_run: false, context: {} });
  });

  it('sets one field in the JSON, keeping the others, and reads only objects', () => {
    expect(JSON.parse(withField('{"a":1,"b":"x"}', 'b', 'y'))).toEqual({ a: 1, b: 'y' });
    expect(JSON.parse(withField('not json', 'a', 2))).toEqual({ a: 2 });
    expect(parseObject('[1]')).toBeNull();
    expect(parseObject('')).toEqual({});
  });
});
