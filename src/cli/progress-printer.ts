import type { RunEventRecord } from '../domain/model.js';

const useColor = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number, text: string) => (useColor ? `\u001b[${code}m${text}\u001b[0m` : text);
const green = (text: string) => paint(32, text);
const red = (text: string) => paint(31, text);
const yellow = (text: string) => paint(33, text);
const dim = (text: string) => paint(2, text);

const errorText = (data: Record<string, unknown>): string => {
  const error = data.error as { code?: string; message?: string } | undefined;
  return error ? `${error.code ?? 'ERROR'}: ${error.message ?? ''}` : '';
};

/** One terminal line per timeline event a person would want to see, or null to skip it. */
export function describeEvent(event: RunEventRecord): string | null {
  const d = event.data;
  const step = typeof d.step_id === 'string' ? d.step_id : '';
  switch (event.type) {
    case 'run.started':
      return dim('▶ run started');
    case 'step.started':
      return `  ${dim('…')} ${step} ${dim(`(${String(d.tool)}, attempt ${String(d.attempt)})`)}`;
    case 'step.completed':
      return `  ${green('✓')} ${step} ${dim(`${String(d.duration_ms)} ms`)}`;
    case 'step.failed':
      return `  ${red('✗')} ${step} ${red(errorText(d))}`;
    case 'step.skipped':
      return `  ${dim('↷')} ${step} ${dim('skipped (when was false)')}`;
    case 'step.retry_scheduled':
      return `  ${yellow('↻')} ${step} ${yellow(`retry ${String(d.next_attempt)} in ${String(d.delay_ms)} ms`)}`;
    case 'run.waiting':
      return `  ${yellow('⏸')} ${step} ${yellow(d.wake_at ? `waiting until ${new Date(Number(d.wake_at)).toISOString()}` : 'waiting')}`;
    case 'run.cancel_requested':
      return yellow('■ cancel requested');
    case 'run.completed':
      return green(`● completed in ${String(d.duration_ms)} ms`);
    case 'run.partial_complete':
      return yellow(`◐ partially completed in ${String(d.duration_ms)} ms (a continue_on_error step failed)`);
    case 'run.failed':
      return red(`● failed: ${errorText(d)}`);
    case 'run.cancelled':
      return yellow('● cancelled');
    default:
      return null;
  }
}
