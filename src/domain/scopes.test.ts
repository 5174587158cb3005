import { describe, expect, it } from 'vitest';
import { hasScope, scopeBeyond, SCOPES } from './scopes.js';

const DATA_SCOPES = [
  'workflows:read',
  'workflows:write',
  'instances:read',
  'instances:write',
  'events:write',
] as const;

describe('scopes', () => {
  it('a data scope grants itself only', () => {
    for (const granted of DATA_SCOPES) {
      for (const required of SCOPES)
        expect(hasScope([granted], required), `${granted} → ${required}`).toBe(granted === required);
    }
  });

  it('org_admin implies every data scope and itself, never the operator scope', () => {
    for (const required of [...DATA_SCOPES, 'org_admin'] as const)
      expect(hasScope(['org_admin'], required)).toBe(true);
    expect(hasScope(['org_admin'], 'operator')).toBe(false);
    expect(hasScope(['org_admin'], 'admin')).toBe(false);
  });

  it("operator, and 'admin' as the operator's older name, imply every scope", () => {
    for (const granted of ['operator', 'admin'] as const) {
      for (const required of SCOPES)
        expect(hasScope([granted], required), `${granted} → ${required}`).toBe(true);
    }
  });

  it('scopeBeyond names the first scope a key may not hand on', () => {
    expect(scopeBeyond(['org_admin'], ['workflows:write', 'org_admin'])).toBeNull();
    expect(scopeBeyond(['org_admin'], ['workflows:read', 'operator'])).toBe('operator');
    expect(scopeBeyond(['workflows:read'], ['workflows:read', 'events:write'])).toBe('events:write');
    expect(scopeBeyond(['admin'], ['operator', 'admin'])).toBeNull();
  });
});
