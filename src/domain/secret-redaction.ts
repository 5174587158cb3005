/** What a secret value is replaced by wherever the engine stores, logs or answers. */
export const SECRET_MARKER = '[secret]';

/**
 * Shorter values are not redacted: a secret such as "1" or "ab" would take out every
 * occurrence of those characters in outputs, errors and logs, and hides almost nothing.
 */
export const MIN_REDACTED_SECRET_LENGTH = 4;

/**
 * The texts that carry `secret` as a request or a response may spell it: as it is, URL
 * encoded (a path or query string, a form body), escaped inside a JSON string, and base64
 * (standard and URL alphabets). Base64 is taken at each of its three alignments, keeping
 * only the characters made of the secret's bits alone, so the secret is found inside a
 * longer encoded text such as `Basic base64(user:secret)`.
 */
function spellings(secret: string): string[] {
  const forms = new Set([
    secret,
    encodeURIComponent(secret),
    new URLSearchParams({ s: secret }).toString().slice(2),
    JSON.stringify(secret).slice(1, -1),
  ]);
  const bytes = Buffer.from(secret, 'utf8');
  for (let offset = 0; offset < 3; offset += 1) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    // Character i holds bits [6i, 6i + 6); the secret's bits are [8 * offset, 8 * (offset + length)).
    const first = Math.ceil((8 * offset) / 6);
    const last = Math.floor((8 * (offset + bytes.length)) / 6);
    const core = encoded.slice(first, last);
    if (core.length >= MIN_REDACTED_SECRET_LENGTH) {
      forms.add(core);
      forms.add(core.replaceAll('+', '-').replaceAll('/', '_'));
    }
  }
  return [...forms];
}

/**
 * Replaces secret values, and their encodings, by `[secret]` in texts and JSON trees.
 * Values shorter than `MIN_REDACTED_SECRET_LENGTH` are left alone. Pure: it grows as an
 * execution learns the secrets its steps use.
 *
 * @example
 * const redactor = new SecretRedactor();
 * redactor.add(['tok-123-secret']);
 * redactor.redact({ header: 'Bearer tok-123-secret' }); // { header: 'Bearer [secret]' }
 */
export class SecretRedactor {
  private readonly secrets = new Set<string>();
  /** Every spelling of every secret, longest first so that no shorter one cuts into a longer one. */
  private needles: string[] = [];

  /** Adds secret values; it redacts them from now on. */
  add(values: Iterable<string>): void {
    let grew = false;
    for (const value of values) {
      if (value.length < MIN_REDACTED_SECRET_LENGTH || this.secrets.has(value)) continue;
      this.secrets.add(value);
      grew = true;
    }
    if (!grew) return;
    const needles = new Set<string>();
    for (const secret of this.secrets) for (const form of spellings(secret)) needles.add(form);
    this.needles = [...needles].sort((a, b) => b.length - a.length);
  }

  /** Whether there is anything to redact. */
  get empty(): boolean {
    return this.needles.length === 0;
  }

  /**
   * `text` with every spelling of every secret replaced by the marker. Markers already
   * there are kept whole (a secret such as "secret" is inside one), so redacting twice
   * changes nothing.
   */
  redactText(text: string): string {
    let out = text;
    for (const needle of this.needles) {
      if (!out.includes(needle)) continue;
      out = out
        .split(SECRET_MARKER)
        .map((part) => part.split(needle).join(SECRET_MARKER))
        .join(SECRET_MARKER);
    }
    return out;
  }

  /** A copy of a JSON tree with the secrets redacted from its strings and its keys. */
  redact<T>(value: T): T {
    if (this.empty) return value;
    return this.redactTree(value) as T;
  }

  private redactTree(value: unknown): unknown {
    if (typeof value === 'string') return this.redactText(value);
    if (Array.isArray(value)) return value.map((item) => this.redactTree(item));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(
        Object.entries(value).map(([key, item]) => [this.redactText(key), this.redactTree(item)]),
      );
    }
    return value;
  }
}
