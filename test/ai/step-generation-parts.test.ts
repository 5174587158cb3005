import { describe, expect, it } from 'vitest';
import { checkGeneratedSteps } from '../../src/ai/generated-steps.js';
import { renderPrompt } from '../../src/ai/prompt-files.js';
import { MAX_GENERATED_STEPS, stepsResponseFormat } from '../../src/ai/step-schema.js';
import { createDefaultToolRegistry } from '../../src/tools/registry.js';

const tools = createDefaultToolRegistry();
const log = (id: string) => ({ id, tool: 'log', params: { message: id } });

describe('prompt files', () => {
  it('fills values, keeps a section only when its value is set, and leaves step templates alone', () => {
    const values = {
      title: 'Digest',
      description: 'Mail me a digest',
      trigger: '{"type":"manual"}',
      todo: '',
      reason: 'too slow',
      previous_steps: '[]',
      avoid_tools: '',
    };
    const text = renderPrompt('generate-request', values);
    expect(text).toContain('Title: Digest');
    expect(text).toContain('Reason given: too slow');
    expect(text).not.toContain('todo item');
    expect(text).not.toContain('different set of tools');
    expect(text).not.toMatch(/\{\{[#/]?[a-z_]+\}\}/);
    expect(renderPrompt('generate-steps', { tools: '- log' })).toContain('"{{ steps.ID.output }}"');
  });

  it('a placeholder without a value is a bug, named', () => {
    expect(() => renderPrompt('repair-steps', {})).toThrow("prompt 'repair-steps' uses {{errors}}");
  });
});

describe('stepsResponseFormat', () => {
  it('is a json_schema of { steps } with one anyOf branch per tool, params as its JSON Schema', () => {
    const format = stepsResponseFormat(tools.list());
    expect(format.type).toBe('json_schema');
    if (format.type !== 'json_schema') return;
    const steps = (format.json_schema.schema.properties as Record<string, Record<string, unknown>>).steps!;
    expect(steps).toMatchObject({ type: 'array', minItems: 1, maxItems: MAX_GENERATED_STEPS });
    const branches = (steps.items as { anyOf: { properties: Record<string, Record<string, unknown>> }[] })
      .anyOf;
    expect(branches.map((branch) => branch.properties.tool!.enum)).toEqual(tools.list().map((t) => [t.name]));
    const logBranch = branches.find((branch) => (branch.properties.tool!.enum as string[])[0] === 'log')!;
    expect(logBranch.properties.params).toMatchObject({ type: 'object', required: ['message'] });
    expect(logBranch.properties.params).not.toHaveProperty('$schema');
  });
});

describe('checkGeneratedSteps', () => {
  it('takes { steps } or a bare array', () => {
    expect(checkGeneratedSteps({ steps: [log('a')] }, tools)).toMatchObject({ ok: true });
    expect(checkGeneratedSteps([log('a')], tools)).toMatchObject({ ok: true });
  });

  it.each([
    ['not an object', 'hello', /must be a JSON object \{"steps": \[\.\.\.\]\}/],
    ['no steps', { steps: [] }, /between 1 and 20 steps \(got 0\)/],
    ['too many', { steps: Array.from({ length: 21 }, (_, i) => log(`s${i}`)) }, /got 21/],
    ['a duplicate id', { steps: [log('a'), log('a')] }, /steps.1.id: step id 'a' is used twice/],
    ['a bad id', { steps: [log('1a')] }, /steps.0.id/],
    [
      'an unknown tool',
      { steps: [{ id: 'a', tool: 'fax', params: {} }] },
      /unknown tool 'fax' \(the tools are: http, /,
    ],
    [
      'bad params',
      { steps: [{ id: 'a', tool: 'delay', params: { duration: 5 } }] },
      /steps.0.params.duration/,
    ],
  ])('refuses %s, naming it', (_what, answer, message) => {
    const checked = checkGeneratedSteps(answer, tools);
    expect(checked.ok).toBe(false);
    if (!checked.ok) expect(checked.errors.join('\n')).toMatch(message);
  });

  it('leaves params that are still templates for run time', () => {
    const steps = [{ id: 'wait', tool: 'delay', params: { duration_ms: '{{ input.wait_ms }}' } }];
    expect(checkGeneratedSteps({ steps }, tools)).toMatchObject({ ok: true });
  });

  it('with a tool set to avoid, refuses the same set (order and repeats aside), accepts another', () => {
    const same = checkGeneratedSteps({ steps: [log('a'), log('b')] }, tools, ['log']);
    expect(same).toEqual({
      ok: false,
      errors: ['the steps use the same tools as before (log); use a different set of tools'],
    });
    const other = { steps: [log('a'), { id: 't', tool: 'transform', params: { expression: '1' } }] };
    expect(checkGeneratedSteps(other, tools, ['log'])).toMatchObject({ ok: true });
  });
});
