import { describe, expect, it } from 'vitest';
import { StepwiseError } from '../domain/errors.js';
import { loadConfig } from './config.js';

/** The message of the error `loadConfig` throws for `env`. */
function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(StepwiseError);
    expect((error as StepwiseError).code).toBe('CONFIG_INVALID');
    return (error as StepwiseError).message;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig refusals', () => {
  it.each([
    ['STEPWISE_SECRET_KEY', 'hunter2-is-not-32-bytes!'],
    ['STEPWISE_BOOTSTRAP_KEY', 'hunter2'],
    ['STEPWISE_BOOTSTRAP_KEY', `hunter2${'x'.repeat(300)}`],
    ['STEPWISE_DATABASE_URL', 'mysql://root:hunter2@db.internal/stepwise'],
    ['SMTP_URL', 'mail://mailer:hunter2@smtp.internal:587'],
    ['LLM_BASE_URL', 'hunter2 is not a url'],
  ])('names %s without repeating its value', (variable, value) => {
    const message = refusal({ [variable]: value });
    expect(message.startsWith(`${variable}: `), message).toBe(true);
    expect(message).toContain('its value is not shown, as it may hold a secret');
    expect(message).not.toContain('hunter2');
  });

  it('never repeats an API key set beside the setting at fault', () => {
    const message = refusal({ LLM_API_KEY: 'sk-hunter2', LLM_BASE_URL: 'nope' });
    expect(message).not.toContain('hunter2');
  });

  it('repeats the value of a plain setting, to show the typo', () => {
    expect(refusal({ PORT: '80a' })).toBe("PORT: must be a whole number (got '80a')");
    expect(refusal({ STEPWISE_SQLITE_SYNCHRONOUS: 'OFF' })).toMatch(
      /^STEPWISE_SQLITE_SYNCHRONOUS: .*\(got 'OFF'\)$/,
    );
  });
});
