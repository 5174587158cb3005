import type { Clock } from '../domain/clock.js';
import { StepwiseError, validationError } from '../domain/errors.js';
import { matchesFilters } from '../domain/event-filter.js';
import { newId } from '../domain/ids.js';
import type { EventRecord } from '../domain/model.js';
import { toStorableJson } from '../domain/storable-json.js';
import type { Store } from '../store/store.js';
import { matchesEvent } from '../tools/wait-for-event-tool.js';
import type { RunService } from './run-service.js';

const EVENT_TYPE = /^[A-Za-z0-9_.:/-]{1,200}$/;

export interface EventDelivery {
  event: EventRecord;
  /** Runs that were waiting for this event and now resume. */
  resumed_run_ids: string[];
  /** Runs started for the org's active workflows whose event trigger matches. */
  started_run_ids: string[];
  /** Matching workflows that refused to start (e.g. still generating, out of credits), and why. */
  failed_triggers: { workflow_id: string; code: string; message: string }[];
}

/**
 * Incoming events: recorded, handed to the runs waiting for them, and starting the
 * workflows whose `trigger_config` is `{ type: 'event', enabled: true, event_type }` and
 * whose `filters` match the data (see `matchesFilters`).
 */
export class EventService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly runs: Pick<RunService, 'start'>,
  ) {}

  async publish(orgId: string, type: string, data: unknown): Promise<EventDelivery> {
    if (typeof type !== 'string' || !EVENT_TYPE.test(type)) {
      throw validationError(
        'type',
        'type: an event type is 1-200 characters of letters, digits and . _ : / -',
      );
    }
    const now = this.clock.now();
    // Normalised once, so the stored event, the payload waiting runs resume with and the
    // input of the runs it starts are the same value on every backend.
    const event: EventRecord = {
      id: newId('evt'),
      org_id: orgId,
      type,
      data: toStorableJson(data ?? {}),
      created_at: now,
    };
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
    return { event, resumed_run_ids: resumed, ...(await this.startTriggered(event)) };
  }

  private async startTriggered(
    event: EventRecord,
  ): Promise<Omit<EventDelivery, 'event' | 'resumed_run_ids'>> {
    const workflows = await this.store.listEventTriggeredWorkflows(event.org_id, event.type);
    const started: string[] = [];
    const failed: EventDelivery['failed_triggers'] = [];
    for (const workflow of workflows) {
      const trigger = workflow.trigger_config;
      if (trigger.enabled === false || !matchesFilters(trigger.filters, event.data)) continue;
      try {
        const { run } = await this.runs.start(event.org_id, workflow.id, {
          input: event.data,
          idempotency_key: `event:${event.id}:${workflow.id}`,
          trigger: { type: 'event', event_id: event.id, event_type: event.type },
        });
        started.push(run.id);
      } catch (error) {
        // One workflow that cannot start must not keep the event from the others.
        if (!(error instanceof StepwiseError) || error.status >= 500) throw error;
        failed.push({ workflow_id: workflow.id, code: error.code, message: error.message });
      }
    }
    return { started_run_ids: started, failed_triggers: failed };
  }
}
