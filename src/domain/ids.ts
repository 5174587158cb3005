import { randomUUID } from 'node:crypto';

/** Prefixed random ids (`run_…`, `wf_…`): the prefix tells a reader what kind of thing an id names. */
export const newId = (prefix: string): string => `${prefix}_${randomUUID()}`;
