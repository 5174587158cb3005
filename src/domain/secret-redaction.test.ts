import { describe, expect, it } from 'vitest';
import { SecretRedactor } from './secret-redaction.js';

const SECRET = 'pa55/word+Key=';

const redactorOf = (...secrets: string[]): SecretRedactor => {
  const redactor = new SecretRedactor();
  redactor.add(secrets);
  return redactor;
};

describe('SecretRedactor', () => {
  it('replaces a secret in strings and keys of a JSON tree, leaving other values alone', () => {
    const redactor = redactorOf(SECRET);
    expect(
      redactor.redact({
        headers: { Authorization: `Bearer ${SECRET}` },
        list: [SECRET, 7, null, true],
        [SECRET]: 'key',
      }),
    ).toEqual({
      headers: { Authorization: 'Bearer [secret]' },
      list: ['[secret]', 7, null, true],
      '[secret]': 'key',
    });
  });

  it('finds the secret URL encoded, form encoded and escaped in JSON text', () => {
    const redactor = redactorOf(SECRET, 'say "hi"\\now');
    expect(redactor.redactText(`/x?key=${encodeURIComponent(SECRET)}&a=1`)).toBe('/x?key=[secret]&a=1');
    expect(redactor.redactText(new URLSearchParams({ key: SECRET }).toString())).toBe('key=[secret]');
    expect(redactor.redactText(JSON.stringify({ note: 'say "hi"\\now' }))).toBe('{"note":"[secret]"}');
  });

  it.each([
    ['', 0],
    ['a', 1],
    ['ab', 2],
    ['user', 4],
  ])('finds the secret inside base64 after a prefix of %j (%i bytes), in both alphabets', (user) => {
    const redactor = redactorOf(SECRET);
    for (const secret of [SECRET, 'ü€ unicode secret ✓']) {
      redactor.add([secret]);
      const basic = Buffer.from(`${user}:${secret}`).toString('base64');
      const redacted = redactor.redactText(`Basic ${basic}`);
      expect(redacted).toContain('[secret]');
      // What is left of the encoding is at most the characters the prefix and the padding share.
      expect(redacted.replace('Basic ', '').replace('[secret]', '').length).toBeLessThanOrEqual(
        Math.ceil(((user.length + 1) * 8) / 6) + 3,
      );
      const url = Buffer.from(`${user}:${secret}`).toString('base64url');
      expect(redactor.redactText(url)).toContain('[secret]');
    }
  });

  it('ignores values shorter than four characters and answers trees unchanged when it knows none', () => {
    const redactor = redactorOf('abc', '', '12');
    expect(redactor.empty).toBe(true);
    const tree = { note: 'abc 12' };
    expect(redactor.redact(tree)).toBe(tree);
    redactor.add(['abcd']);
    expect(redactor.redact({ note: 'abcd abc' })).toEqual({ note: '[secret] abc' });
  });

  it('changes nothing when redacting twice, even for a secret found inside the marker', () => {
    const redactor = redactorOf('secret', 'ecre7');
    const once = redactor.redact({ note: 'my secret is ecre7 and secret' });
    expect(once).toEqual({ note: 'my [secret] is [secret] and [secret]' });
    expect(redactor.redact(once)).toEqual(once);
  });

  it('redacts the longer of two overlapping secrets whole', () => {
    const redactor = redactorOf('token', 'token-extended');
    expect(redactor.redactText('a token-extended b token')).toBe('a [secret] b [secret]');
  });
});
