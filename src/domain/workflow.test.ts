import { describe, expect, it } from 'vitest';
import type { StepwiseError } from './errors.js';
import { slugFromTitle } from './workflow-input.js';
import { nextStepIndex, parseWorkflowDefinition } from './workflow.js';

const known = (tool: string) => ['http', 'log'].includes(tool);

const errorOf = (fn: () => unknown): StepwiseError => {
  try {
    fn();
  } catch (error) {
    return error as StepwiseError;
  }
  throw new Error('expected an error');
};

describe('parseWorkflowDefinition', () => {
  it('fills defaults', () => {
    const definition = parseWorkflowDefinition({ steps: [{ id: 'a', tool: 'log' }] }, known);
    expect(definition.steps[0]).toEqual({ id: 'a', tool: 'log', params: {}, continue_on_error: false });
  });

  it('takes concurrency and throttle, and names a bad period', () => {
    const definition = parseWorkflowDefinition(
      {
        steps: [{ id: 'a', tool: 'log' }],
        concurrency: { key: '{{ input.customer }}', limit: 2 },
        throttle: { limit: 5, period: '1m' },
      },
      known,
    );
    expect(definition.concurrency).toEqual({ key: '{{ input.customer }}', limit: 2 });
    expect(definition.throttle).toEqual({ limit: 5, period: '1m' });
    const error = errorOf(() =>
      parseWorkflowDefinition({ steps: [], throttle: { limit: 1, period: 'soon' } }, known),
    );
    expect(error.message).toMatch(/^throttle\.period: a period is like/);
    expect(
      errorOf(() => parseWorkflowDefinition({ steps: [], concurrency: { limit: 0 } }, known)).message,
    ).toMatch(/^concurrency\.limit/);
  });

  it('names the field of a bad step', () => {
    const error = errorOf(() =>
      parseWorkflowDefinition(
        {
          steps: [
            { id: 'a', tool: 'log' },
            { id: '1bad', tool: 'log' },
          ],
        },
        known,
      ),
    );
    expect(error.status).toBe(400);
    expect(error.field).toBe('steps.1.id');
  });

  it('refuses duplicate step ids and unknown tools', () => {
    expect(
      errorOf(() =>
        parseWorkflowDefinition(
          {
            steps: [
              { id: 'a', tool: 'log' },
              { id: 'a', tool: 'log' },
            ],
          },
          known,
        ),
      ).field,
    ).toBe('steps.1.id');
    const unknownTool = errorOf(() => parseWorkflowDefinition({ steps: [{ id: 'a', tool: 'ftp' }] }, known));
    expect(unknownTool.field).toBe('steps.0.tool');
    expect(unknownTool.message).toContain("unknown tool 'ftp'");
  });

  it('refuses unknown step fields and bad retry policies', () => {
    expect(
      errorOf(() => parseWorkflowDefinition({ steps: [{ id: 'a', tool: 'log', colour: 'red' }] }, known))
        .status,
    ).toBe(400);
    expect(
      errorOf(() =>
        parseWorkflowDefinition({ steps: [{ id: 'a', tool: 'log', retry: { max_attempts: 0 } }] }, known),
      ).field,
    ).toBe('steps.0.retry.max_attempts');
  });
});

describe('nextStepIndex', () => {
  const definition = parseWorkflowDefinition(
    { steps: ['a', 'b', 'c'].map((id) => ({ id, tool: 'log' })) },
    known,
  );

  it('goes on to the following step, ends the run, or jumps to the step named', () => {
    expect(nextStepIndex(definition, 0, undefined)).toBe(1);
    expect(nextStepIndex(definition, 0, null)).toBe(3);
    expect(nextStepIndex(definition, 2, 'a')).toBe(0);
  });

  it('names the branching step when the target is not a step of the workflow', () => {
    expect(nextStepIndex(definition, 1, 'z')).toEqual({
      code: 'UNKNOWN_STEP',
      message: "step 'b' branched to 'z', which is not a step of this workflow",
      step_id: 'b',
    });
  });
});

describe('slugFromTitle', () => {
  it('makes camelCase action names like document 000', () => {
    expect(slugFromTitle('Lead follow-up')).toBe('leadFollowUp');
    expect(slugFromTitle('Enrich lead')).toBe('enrichLead');
    expect(slugFromTitle('  42 things ')).toBe('workflow42Things');
    expect(slugFromTitle('!!!')).toBe('workflow');
  });
});
