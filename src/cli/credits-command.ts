import type { Stepwise } from '../app/stepwise.js';
import { notFound, validationError } from '../domain/errors.js';

export interface CreditsFlags {
  org?: string;
  reason?: string;
  json?: boolean;
}

/** `stepwise credits grant --org NAME N` and `stepwise credits balance --org NAME`. @returns the exit code. */
export async function runCreditsCommand(
  stepwise: Stepwise,
  args: string[],
  flags: CreditsFlags,
  out: (line: string) => void,
): Promise<number> {
  const [action, amountText] = args;
  if (action !== 'grant' && action !== 'balance') {
    throw validationError(
      'credits',
      "credits: use 'credits grant --org NAME N' or 'credits balance --org NAME'",
    );
  }
  if (!flags.org) throw validationError('--org', '--org: name the org (see keys list)');
  const org = (await stepwise.store.getOrgByName(flags.org)) ?? (await stepwise.store.getOrg(flags.org));
  if (!org) throw notFound('org', flags.org);
  if (action === 'grant') {
    if (amountText === undefined || !/^\d+$/.test(amountText)) {
      throw validationError(
        'N',
        'credits grant: give the number of credits, e.g. credits grant --org acme 500',
      );
    }
    const balance = await stepwise.credits.grant(
      org.id,
      Number(amountText),
      flags.reason ?? 'granted with the CLI',
    );
    if (flags.json) out(JSON.stringify({ org_id: org.id, granted: Number(amountText), balance }));
    else out(`granted ${amountText} credits to org ${org.name}; balance ${balance}`);
    return 0;
  }
  const statement = await stepwise.credits.statement(org.id, { limit: 20 });
  if (flags.json) out(JSON.stringify(statement));
  else {
    const renewal =
      statement.renews_at === null
        ? ''
        : `; tops up to ${stepwise.plans.plan(org.plan).monthly_credits} on ${new Date(statement.renews_at).toISOString().slice(0, 10)}`;
    out(`org ${org.name} (${org.plan}): balance ${statement.balance}${renewal}`);
    for (const entry of statement.entries) {
      out(
        `  ${new Date(entry.created_at).toISOString()}  ${entry.kind.padEnd(7)}  ${String(entry.amount).padStart(8)}  ${entry.run_id ?? entry.reason ?? ''}`,
      );
    }
  }
  return 0;
}
