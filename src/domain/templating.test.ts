import { describe, expect, it } from 'vitest';
import { StepFailure } from './errors.js';
import { referencedSecrets, renderTemplate, templateReferences, type TemplateScope } from './templating.js';

const scope: TemplateScope = {
  input: { name: 'Ada', count: 3, tags: ['a', 'b'], nested: { ok: true } },
  steps: { fetch: { output: { status: 200, items: [{ id: 'x1' }] } } },
  secrets: { API_TOKEN: 's3cret' },
  run: { id: 'run_1', workflow_id: 'wf_1', attempt: 1 },
};

const failureOf = (fn: () => unknown): StepFailure => {
  try {
    fn();
  } catch (error) {
    return error as StepFailure;
  }
  throw new Error('expected a failure');
};

describe('renderTemplate', () => {
  it('keeps the type of a whole-string reference', () => {
    expect(renderTemplate('{{ input.count }}', scope)).toBe(3);
    expect(renderTemplate('{{input.nested}}', scope)).toEqual({ ok: true });
    expect(renderTemplate('{{ steps.fetch.output.items[0].id }}', scope)).toBe('x1');
  });

  it('interpolates references inside longer strings as text', () => {
    expect(renderTemplate('Hello {{ input.name }}, {{ input.count }} items', scope)).toBe(
      'Hello Ada, 3 items',
    );
    expect(renderTemplate('tags={{ input.tags }}', scope)).toBe('tags=["a","b"]');
  });

  it('renders nested objects and arrays, leaving other values alone', () => {
    expect(
      renderTemplate(
        { headers: { Authorization: 'Bearer {{ secrets.API_TOKEN }}' }, list: ['{{ run.id }}', 7, null] },
        scope,
      ),
    ).toEqual({ headers: { Authorization: 'Bearer s3cret' }, list: ['run_1', 7, null] });
  });

  it('fails without retry, naming a missing reference', () => {
    const failure = failureOf(() => renderTemplate({ url: 'https://x/{{ input.missing }}' }, scope));
    expect(failure).toBeInstanceOf(StepFailure);
    expect(failure.retriable).toBe(false);
    expect(failure.code).toBe('TEMPLATE_MISSING_REFERENCE');
    expect(failure.message).toContain("'input.missing'");
  });

  it('says when a referenced step has not completed', () => {
    const failure = failureOf(() => renderTemplate('{{ steps.later.output }}', scope));
    expect(failure.message).toContain('no such step has completed');
  });

  it('names a missing secret', () => {
    expect(failureOf(() => renderTemplate('{{ secrets.NOPE }}', scope)).message).toContain('secrets.NOPE');
  });

  it('refuses references outside input, steps, secrets and run', () => {
    expect(failureOf(() => renderTemplate('{{ process.env }}', scope)).code).toBe('TEMPLATE_INVALID');
    expect(failureOf(() => renderTemplate('{{ input.constructor }}', scope)).code).toBe(
      'TEMPLATE_MISSING_REFERENCE',
    );
  });
});

describe('templateReferences', () => {
  const references = (text: string) => [...templateReferences(text)].map((found) => found.reference);

  it('takes a reference as brace-free text between {{ and the first }}', () => {
    expect(references('a {{ input.x }} b {{steps.s.output}}')).toEqual(['input.x', 'steps.s.output']);
    expect(references('{{{ input.x }}}')).toEqual(['input.x']);
    expect(references('{{ a } b }} {{}} {{ c {{ d }}')).toEqual(['d']);
    expect(references('{{ }}')).toEqual(['']);
  });

  it('keeps literal braces around references as text', () => {
    expect(renderTemplate('{{{ input.name }}}', scope)).toBe('{Ada}');
    expect(renderTemplate('{{ input.name } and {{}}', scope)).toBe('{{ input.name } and {{}}');
    expect(renderTemplate('  {{ input.count }}\n', scope)).toBe(3);
    expect(renderTemplate('{{ input.count }}{{ input.count }}', scope)).toBe('33');
  });

  // The regex this replaced took 24 s on `{{` and 3,000 spaces, and minutes on 10,000.
  const MB = 1_000_000;
  const adversarial: [string, string][] = [
    ['{{ and a megabyte of spaces', '{{' + ' '.repeat(MB)],
    ['{{, spaces and a lone }', '{{' + ' '.repeat(MB) + '}'],
    ['{{, spaces and }}', '{{' + ' '.repeat(MB) + '}}'],
    ['a megabyte of unclosed {{', '{{'.repeat(MB / 2)],
    ['many {{ x, none closed', '{{ x'.repeat(MB / 4)],
    ['many {{ x }, closed by one brace', '{{ x }'.repeat(MB / 6)],
    ['{{ and a megabyte of text', '{{ ' + 'x'.repeat(MB)],
  ];
  it.each(adversarial)('scans %s in well under a second', (_shape, text) => {
    const began = performance.now();
    const found = [...templateReferences(text)];
    referencedSecrets({ text });
    try {
      renderTemplate({ text }, scope);
    } catch (error) {
      expect(error).toBeInstanceOf(StepFailure);
    }
    const elapsed = performance.now() - began;
    expect(found.length).toBeLessThanOrEqual(1);
    expect(elapsed).toBeLessThan(1000);
  });
});

describe('referencedSecrets', () => {
  it('lists the secret names a params tree uses', () => {
    expect(
      [
        ...referencedSecrets({ a: '{{ secrets.A }}', b: ['x {{secrets.B.inner}}'], c: '{{ input.x }}' }),
      ].sort(),
    ).toEqual(['A', 'B']);
  });
});
