// The run timeline's geometry: one row per step, one bar per attempt (pure, unit-tested).
import { formatDuration } from './format';

export interface AttemptInput {
  stepId: string;
  tool: string;
  attempt: number;
  status: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface TimelineBar {
  key: string;
  stepId: string;
  attempt: number;
  status: string;
  /** A second or later attempt of its step. */
  retry: boolean;
  /** Still in flight: drawn up to `now`. */
  open: boolean;
  x: number;
  y: number;
  width: number;
  height: number;
  durationMs: number;
  title: string;
}

export interface TimelineLayout {
  rows: { stepId: string; tool: string; y: number }[];
  bars: TimelineBar[];
  ticks: { x: number; label: string; anchor: 'start' | 'middle' | 'end' }[];
  width: number;
  height: number;
  startMs: number;
  spanMs: number;
}

export interface LayoutOptions {
  /** Width of the whole drawing, labels included. */
  width: number;
  labelWidth: number;
  rowHeight: number;
  barHeight: number;
  /** Room for the axis under the rows. */
  axisHeight: number;
  /** Smallest bar, so a 0 ms attempt stays visible and clickable. */
  minBarWidth: number;
  /** Instant that open attempts are drawn up to. */
  now: number;
}

export const DEFAULT_LAYOUT: Omit<LayoutOptions, 'now'> = {
  width: 760,
  labelWidth: 150,
  rowHeight: 28,
  barHeight: 16,
  axisHeight: 24,
  minBarWidth: 3,
};

/** `send attempt 2: failed in 1.5 s` (or `… running for 3 s` while open). */
export function attemptTitle(
  stepId: string,
  attempt: number,
  status: string,
  ms: number,
  open: boolean,
): string {
  return `${stepId} attempt ${attempt}: ${status} ${open ? 'for' : 'in'} ${formatDuration(ms)}`;
}

export function layoutTimeline(attempts: AttemptInput[], options: LayoutOptions): TimelineLayout {
  const started = attempts.filter((a) => a.startedAt !== null);
  const rows: TimelineLayout['rows'] = [];
  const rowOf = new Map<string, number>();
  for (const attempt of attempts) {
    if (rowOf.has(attempt.stepId)) continue;
    rowOf.set(attempt.stepId, rows.length);
    rows.push({ stepId: attempt.stepId, tool: attempt.tool, y: rows.length * options.rowHeight });
  }
  const startOf = (a: AttemptInput) => Date.parse(a.startedAt!);
  const endOf = (a: AttemptInput) =>
    a.finishedAt ? Date.parse(a.finishedAt) : Math.max(options.now, startOf(a));
  const startMs = started.length ? Math.min(...started.map(startOf)) : options.now;
  const endMs = started.length ? Math.max(...started.map(endOf)) : options.now;
  const spanMs = Math.max(endMs - startMs, 1);
  const plotWidth = Math.max(options.width - options.labelWidth - 8, 10);
  const scale = (ms: number) => options.labelWidth + ((ms - startMs) / spanMs) * plotWidth;

  const bars = started.map((a): TimelineBar => {
    const open = a.finishedAt === null;
    const from = startOf(a);
    const to = endOf(a);
    const x = scale(from);
    const width = Math.max(scale(to) - x, options.minBarWidth);
    const row = rowOf.get(a.stepId)!;
    return {
      key: `${a.stepId}#${a.attempt}`,
      stepId: a.stepId,
      attempt: a.attempt,
      status: a.status,
      retry: a.attempt > 1,
      open,
      x: Math.min(x, options.width - width),
      y: row * options.rowHeight + (options.rowHeight - options.barHeight) / 2,
      width,
      height: options.barHeight,
      durationMs: to - from,
      title: attemptTitle(a.stepId, a.attempt, a.status, to - from, open),
    };
  });

  const tickCount = 4;
  const ticks = Array.from({ length: tickCount + 1 }, (_, i) => ({
    x: options.labelWidth + (plotWidth * i) / tickCount,
    label: `+${formatDuration((spanMs * i) / tickCount)}`,
    anchor: (i === 0 ? 'start' : i === tickCount ? 'end' : 'middle') as 'start' | 'middle' | 'end',
  }));
  return {
    rows,
    bars,
    ticks,
    width: options.width,
    height: rows.length * options.rowHeight + options.axisHeight,
    startMs,
    spanMs,
  };
}

interface StepRecordLike extends AttemptInput {
  startedAt: string | null;
}

interface EventLike {
  type: string;
  at: string;
  data: Record<string, unknown> | null;
}

/**
 * Every attempt to draw: the recorded ones (finished), plus an attempt the timeline shows
 * as started but not recorded yet: open while the run goes on, ended with the run otherwise.
 * A bar starts at its attempt's first `step.started`, so a delay or a wait for an event
 * (recorded when it resumes) spans the time it waited.
 */
export function attemptsOf(
  run: { status: string; finishedAt: string | null },
  steps: StepRecordLike[],
  events: EventLike[],
  final: boolean,
): AttemptInput[] {
  const firstStart = new Map<string, string>();
  for (const event of events) {
    if (event.type !== 'step.started' || !event.data) continue;
    const key = `${String(event.data.step_id ?? '')}#${Number(event.data.attempt ?? 1)}`;
    if (!firstStart.has(key)) firstStart.set(key, event.at);
  }
  const recorded = new Set(steps.map((s) => `${s.stepId}#${s.attempt}`));
  const drawn = steps.map((step) => {
    const started = firstStart.get(`${step.stepId}#${step.attempt}`);
    const earlier = started && step.startedAt && Date.parse(started) < Date.parse(step.startedAt);
    return earlier ? { ...step, startedAt: started } : step;
  });
  const pending: AttemptInput[] = [];
  for (const event of events) {
    if (event.type !== 'step.started' || !event.data) continue;
    const stepId = String(event.data.step_id ?? '');
    const attempt = Number(event.data.attempt ?? 1);
    const key = `${stepId}#${attempt}`;
    if (!stepId || recorded.has(key) || pending.some((p) => `${p.stepId}#${p.attempt}` === key)) continue;
    pending.push({
      stepId,
      tool: String(event.data.tool ?? ''),
      attempt,
      status: final ? run.status : 'running',
      startedAt: event.at,
      finishedAt: final ? (run.finishedAt ?? event.at) : null,
    });
  }
  return [...drawn, ...pending];
}
