import { validationError } from '../domain/errors.js';
import type { KeyService } from '../services/key-service.js';

export interface KeysFlags {
  org?: string;
  site?: string;
  scopes?: string;
  name?: string;
  json?: boolean;
}

/** `stepwise keys create|list|revoke`. @returns the exit code. */
export async function runKeysCommand(
  keys: KeyService,
  args: string[],
  flags: KeysFlags,
  out: (line: string) => void,
): Promise<number> {
  const [action, id] = args;
  switch (action) {
    case 'create': {
      if (!flags.org)
        throw validationError('--org', '--org: name the org the key belongs to (created when new)');
      if (!flags.scopes)
        throw validationError(
          '--scopes',
          '--scopes: a comma-separated list, e.g. workflows:read,workflows:write',
        );
      const created = await keys.create({
        orgName: flags.org,
        siteName: flags.site,
        scopes: flags.scopes
          .split(',')
          .map((scope) => scope.trim())
          .filter(Boolean),
        name: flags.name,
      });
      if (flags.json) out(JSON.stringify(created));
      else
        out(
          `created key ${created.id} for org ${flags.org} (${created.scopes.join(', ')}); shown once:\n\n  ${created.key}\n`,
        );
      return 0;
    }
    case 'list': {
      const list = await keys.list();
      if (flags.json) out(JSON.stringify(list));
      else
        for (const key of list) {
          out(
            `${key.id}  ${key.prefix}…  org=${key.org_id}  ${key.scopes.join(',')}${key.revoked_at ? '  REVOKED' : ''}`,
          );
        }
      return 0;
    }
    case 'revoke': {
      if (!id) throw validationError('ID', 'keys revoke: give the key id (see keys list)');
      await keys.revoke(id);
      out(`revoked ${id}`);
      return 0;
    }
    default:
      throw validationError('keys', "keys: use 'keys create', 'keys list' or 'keys revoke ID'");
  }
}
