/** Aggregates over runs for summaries, timelines and reports. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface ReportStore {}
