import type { Clock } from '../domain/clock.js';
import { validationError } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { EventRecord } from '../domain/model.js';
import type { Store } from '../store/store.js';
import { matchesEvent } from '../tools/wait-for-event-tool.js';

const EVENT_TYPE = /^[A-Za-z0-9_.:/-]{1,200}$/;

export interface EventDelivery {
  event: EventRecord;
  /** Runs that were waiting for this event and now resume. */
  resumed_run_ids: string[];
}

/** Incoming events: recorded, then handed to the runs waiting for them. */
export class EventService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  async publish(orgId: string, type: string, data: unknown): Promise<EventDelivery> {
    if (typeof type !== 'string' || !EVENT_TYPE.test(type)) {
      throw validationError(
        'type',
        'type: an event type is 1-200 characters of letters, digits and . _ : / -',
      );
    }
    const now = this.clock.now();
    const event: EventRecord = { id: newId('evt'), org_id: orgId, type, data: data ?? {}, created_at: now };
    await this.store.insertEvent(event);
    const waiting = await this.store.listRunsWaitingForEvent(orgId, type);
    const resumed: string[] = [];
    for (const run of waiting) {
      if (!matchesEvent(run.wait_match ?? {}, event.data)) continue;
      const woke = await this.store.resumeWaitingRun(run.id, type, event.data, now, {
        run_id: run.id,
        type: 'run.woke',
        data: { reason: 'event', event_id: event.id, event_type: type },
        at: now,
      });
      if (woke) resumed.push(run.id);
    }
    return { event, resumed_run_ids: resumed };
  }
}
