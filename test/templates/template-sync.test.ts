import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/domain/clock.js';
import { MarketplaceService } from '../../src/services/marketplace-service.js';
import { WorkflowService } from '../../src/services/workflow-service.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { TEMPLATE_CATALOGUE } from '../../src/templates/catalogue.js';
import { createDefaultToolRegistry } from '../../src/tools/registry.js';

// Each start lists what the catalogue ships: a template dropped from a release must leave the
// marketplace instead of staying installable as it was last shipped.

const store = SqliteStore.open({ path: ':memory:' });
const tools = createDefaultToolRegistry();
const workflows = new WorkflowService(store, tools, systemClock);
const startWith = (templates: typeof TEMPLATE_CATALOGUE) =>
  new MarketplaceService(store, workflows, tools, systemClock, templates).syncTemplates();

afterAll(async () => {
  await store.close();
});

describe('syncTemplates', () => {
  it('hides the templates no longer shipped and shows them again, counts kept, when they return', async () => {
    await store.migrate();
    const [kept, dropped] = TEMPLATE_CATALOGUE;
    expect(await startWith(TEMPLATE_CATALOGUE)).toEqual([]);
    await store.marketplace.recordInstall(dropped!.id);

    const hidden = await startWith([kept!]);
    expect(hidden.sort()).toEqual(
      TEMPLATE_CATALOGUE.slice(1)
        .map((template) => template.id)
        .sort(),
    );
    expect(await store.marketplace.getListing(dropped!.id)).toBeNull();
    expect(await store.marketplace.getListing(kept!.id)).not.toBeNull();

    expect(await startWith(TEMPLATE_CATALOGUE)).toEqual([]);
    expect(await store.marketplace.getListing(dropped!.id)).toMatchObject({
      hidden: false,
      install_count: 1,
    });
  });
});
