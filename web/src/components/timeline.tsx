import { useState } from 'preact/hooks';
import { formatDuration, statusLabel } from '../format';
import { DEFAULT_LAYOUT, layoutTimeline, type AttemptInput } from '../timeline-layout';

/** A Gantt-style SVG: one row per step, one bar per attempt; retries hatched, failures red. */
export function StepTimeline({ attempts, now }: { attempts: AttemptInput[]; now: number }) {
  const layout = layoutTimeline(attempts, { ...DEFAULT_LAYOUT, now });
  const [focused, setFocused] = useState<string | null>(null);
  if (attempts.length === 0) {
    return (
      <svg
        role="img"
        aria-label="Step timeline"
        viewBox={`0 0 ${layout.width} 30`}
        width="100%"
        class="timeline"
      >
        <title>No step has started yet</title>
        <text x={8} y={20} class="label">
          No step has started yet.
        </text>
      </svg>
    );
  }
  const focus = layout.bars.find((bar) => bar.key === focused);
  return (
    <div class="timeline-wrap">
      <svg
        role="img"
        aria-label="Step timeline"
        viewBox={`0 0 ${layout.width} ${layout.height}`}
        width="100%"
        preserveAspectRatio="xMinYMin meet"
        class="timeline"
      >
        <defs>
          <pattern
            id="retry-hatch"
            width="6"
            height="6"
            patternUnits="userSpaceOnUse"
            patternTransform="rotate(45)"
          >
            <line x1="0" y1="0" x2="0" y2="6" class="hatch" stroke-width="3" />
          </pattern>
        </defs>
        {layout.rows.map((row) => (
          <g key={row.stepId}>
            <line
              x1={0}
              x2={layout.width}
              y1={row.y + DEFAULT_LAYOUT.rowHeight}
              y2={row.y + DEFAULT_LAYOUT.rowHeight}
              class="grid"
            />
            <text x={4} y={row.y + DEFAULT_LAYOUT.rowHeight / 2 + 4} class="label">
              {row.stepId.length > 20 ? `${row.stepId.slice(0, 19)}…` : row.stepId}
            </text>
          </g>
        ))}
        {layout.ticks.map((tick) => (
          <text key={tick.x} x={tick.x} y={layout.height - 6} class="tick" text-anchor={tick.anchor}>
            {tick.label}
          </text>
        ))}
        {layout.bars.map((bar) => (
          <g key={bar.key}>
            <rect
              x={bar.x}
              y={bar.y}
              width={bar.width}
              height={bar.height}
              rx={2}
              class={`bar bar-${bar.status}${bar.retry ? ' bar-retry' : ''}${bar.open ? ' bar-open' : ''}`}
              onMouseEnter={() => setFocused(bar.key)}
              onMouseLeave={() => setFocused(null)}
            >
              <title>{bar.title}</title>
            </rect>
            {bar.retry && (
              <path
                d={`M${bar.x} ${bar.y}h${bar.width}v${bar.height}h${-bar.width}z`}
                fill="url(#retry-hatch)"
                pointer-events="none"
                aria-hidden="true"
              />
            )}
          </g>
        ))}
      </svg>
      <p class="small muted">
        {focus
          ? focus.title
          : 'Bars: green completed, red failed, blue running, grey skipped or cancelled; hatched bars are retries.'}
      </p>
      <details>
        <summary>Timeline as a table</summary>
        <table>
          <thead>
            <tr>
              <th scope="col">Step</th>
              <th scope="col">Attempt</th>
              <th scope="col">Status</th>
              <th scope="col">Duration</th>
            </tr>
          </thead>
          <tbody>
            {layout.bars.map((bar) => (
              <tr key={bar.key}>
                <td>{bar.stepId}</td>
                <td>{bar.attempt}</td>
                <td>{statusLabel(bar.status)}</td>
                <td>{formatDuration(bar.durationMs)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </div>
  );
}
