import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { StepwiseError } from '../domain/errors.js';

const VERSION = 'v1';

/** Decodes a 32-byte key given as hex or base64(url). */
export function decodeSecretKey(text: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed)
    ? Buffer.from(trimmed, 'hex')
    : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) {
    throw new StepwiseError('CONFIG_INVALID', 500, 'STEPWISE_SECRET_KEY must decode to exactly 32 bytes');
  }
  return key;
}

export const generateSecretKey = (): string => randomBytes(32).toString('base64');

/**
 * AES-256-GCM for secrets at rest. The org id is bound as associated data, so a
 * ciphertext copied into another org's row does not decrypt.
 */
export class SecretBox {
  constructor(private readonly key: Buffer) {}

  seal(orgId: string, plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(orgId));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [
      VERSION,
      iv.toString('base64'),
      cipher.getAuthTag().toString('base64'),
      body.toString('base64'),
    ].join('.');
  }

  open(orgId: string, sealed: string): string {
    const [version, iv, tag, body] = sealed.split('.');
    if (version !== VERSION || !iv || !tag || body === undefined) {
      throw new StepwiseError('SECRET_UNREADABLE', 500, 'a stored secret has an unknown format');
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'));
      decipher.setAAD(Buffer.from(orgId));
      decipher.setAuthTag(Buffer.from(tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
    } catch (cause) {
      throw new StepwiseError(
        'SECRET_UNREADABLE',
        500,
        'a stored secret cannot be decrypted: was STEPWISE_SECRET_KEY changed?',
        { cause },
      );
    }
  }
}
