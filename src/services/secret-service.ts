import { validationError } from '../domain/errors.js';
import type { Clock } from '../domain/clock.js';
import type { Store } from '../store/store.js';
import type { SecretBox } from './secret-box.js';

const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Org secrets, referenced from step params as `{{ secrets.NAME }}`. Values are write-only to callers. */
export class SecretService {
  constructor(
    private readonly store: Store,
    private readonly box: SecretBox,
    private readonly clock: Clock,
  ) {}

  async put(orgId: string, name: string, value: string): Promise<void> {
    if (!SECRET_NAME.test(name)) {
      throw validationError(
        'name',
        'name: a secret name holds letters, digits and _ and starts with a letter or _',
      );
    }
    if (typeof value !== 'string' || value.length > 65_536) {
      throw validationError('value', 'value: a secret is a string of at most 64 KiB');
    }
    await this.store.putSecret(orgId, name, this.box.seal(orgId, value), this.clock.now());
  }

  listNames(orgId: string): Promise<string[]> {
    return this.store.listSecretNames(orgId);
  }

  delete(orgId: string, name: string): Promise<boolean> {
    return this.store.deleteSecret(orgId, name);
  }

  /** Decrypts the named secrets that exist; a missing one is simply absent (templating then names it). */
  async resolve(orgId: string, names: Iterable<string>): Promise<Record<string, string>> {
    const wanted = [...names];
    if (wanted.length === 0) return {};
    const rows = await this.store.getSecrets(orgId, wanted);
    return Object.fromEntries(rows.map((row) => [row.name, this.box.open(orgId, row.ciphertext)]));
  }
}
