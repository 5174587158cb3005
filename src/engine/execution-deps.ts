import type { Clock } from '../domain/clock.js';
import type { ExpressionEvaluator } from '../domain/expression.js';
import type { StepTool, SubRunPort, ToolSettings } from '../tools/tool.js';
import type { CheckpointQueue } from './checkpoint-queue.js';
import type { ConcurrencySlots } from './concurrency-slot.js';
import type { DefinitionSource } from './definition-cache.js';

/** What a run's execution works with; the worker supplies it, step invocation and slots take their part. */
export interface ExecutionDeps {
  clock: Clock;
  definitions: DefinitionSource;
  tools: { get(name: string): StepTool | undefined };
  secrets: { resolve(orgId: string, names: Iterable<string>): Promise<Record<string, string>> };
  subRuns(orgId: string, parentRunId: string): SubRunPort;
  toolSettings: ToolSettings;
  /** A step whose output is more bytes of JSON than this fails with `OUTPUT_TOO_LARGE`. */
  maxStepOutputBytes: number;
  /** Evaluates `when` and the tools' expressions (transform, condition) off the event loop. */
  expressions: ExpressionEvaluator;
  checkpoints: CheckpointQueue;
  log(level: 'info' | 'warn' | 'error', message: string, data: Record<string, unknown>): void;
  random?: () => number;
  /** True once the worker is shutting down: no new step may start; the run is handed back. */
  draining?: () => boolean;
  /** Per-workflow concurrency slots; without it `concurrency` is not enforced. */
  concurrency?: ConcurrencySlots;
}
