import { formatPercent } from '../format';
import type { Bucket } from '../summary-math';

const WIDTH = 640;
const HEIGHT = 200;
const PAD = { left: 40, right: 12, top: 12, bottom: 28 };

interface ChartProps {
  label: string;
  buckets: Bucket[];
  /** How a bucket's start is written on the axis and in the table. */
  formatBucket: (start: number) => string;
}

function axisLabels(buckets: Bucket[], formatBucket: (start: number) => string) {
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const step = Math.max(1, Math.ceil(buckets.length / 6));
  return buckets
    .map((bucket, i) => ({ i, text: formatBucket(bucket.start) }))
    .filter(({ i }) => i % step === 0)
    .map(({ i, text }) => (
      <text
        key={i}
        x={PAD.left + ((i + 0.5) * plotWidth) / buckets.length}
        y={HEIGHT - 8}
        class="tick"
        text-anchor="middle"
      >
        {text}
      </text>
    ));
}

/** Runs per bucket, stacked: succeeded (green), failed (red), other (grey). */
export function RunsChart({ label, buckets, formatBucket }: ChartProps) {
  const max = Math.max(1, ...buckets.map((b) => b.total));
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const barWidth = plotWidth / Math.max(buckets.length, 1);
  const y = (value: number) => PAD.top + plotHeight - (value / max) * plotHeight;
  return (
    <figure class="chart">
      <svg role="img" aria-label={label} viewBox={`0 0 ${WIDTH} ${HEIGHT}`} width="100%">
        <title>{label}</title>
        <line x1={PAD.left} x2={WIDTH - PAD.right} y1={y(0)} y2={y(0)} class="axis" />
        <text x={PAD.left - 6} y={y(max) + 4} class="tick" text-anchor="end">
          {max}
        </text>
        <text x={PAD.left - 6} y={y(0) + 4} class="tick" text-anchor="end">
          0
        </text>
        {buckets.map((bucket, i) => {
          const x = PAD.left + i * barWidth + barWidth * 0.1;
          const w = Math.max(barWidth * 0.8, 1);
          const other = bucket.total - bucket.succeeded - bucket.failed;
          const parts = [
            { value: bucket.succeeded, cls: 'ok' },
            { value: bucket.failed, cls: 'failed' },
            { value: other, cls: 'other' },
          ];
          let base = 0;
          return (
            <g key={bucket.start}>
              <title>{`${formatBucket(bucket.start)}: ${bucket.total} runs, ${bucket.succeeded} succeeded, ${bucket.failed} failed`}</title>
              {parts.map((part) => {
                if (part.value <= 0) return null;
                const top = y(base + part.value);
                const height = y(base) - top;
                base += part.value;
                return (
                  <rect key={part.cls} x={x} y={top} width={w} height={height} class={`chart-${part.cls}`} />
                );
              })}
            </g>
          );
        })}
        {axisLabels(buckets, formatBucket)}
      </svg>
      <figcaption class="small muted">
        <span class="swatch chart-ok" /> succeeded <span class="swatch chart-failed" /> failed{' '}
        <span class="swatch chart-other" /> other
      </figcaption>
    </figure>
  );
}

/** Success rate per bucket (buckets where nothing finished are gaps). */
export function SuccessChart({ label, buckets, formatBucket }: ChartProps) {
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const x = (i: number) => PAD.left + ((i + 0.5) * plotWidth) / Math.max(buckets.length, 1);
  const y = (ratio: number) => PAD.top + plotHeight - ratio * plotHeight;
  const segments: string[] = [];
  let current = '';
  buckets.forEach((bucket, i) => {
    if (bucket.successRate === null) {
      if (current) segments.push(current);
      current = '';
      return;
    }
    current += `${current ? 'L' : 'M'}${x(i).toFixed(1)} ${y(bucket.successRate).toFixed(1)}`;
  });
  if (current) segments.push(current);
  return (
    <figure class="chart">
      <svg role="img" aria-label={label} viewBox={`0 0 ${WIDTH} ${HEIGHT}`} width="100%">
        <title>{label}</title>
        {[0, 0.5, 1].map((ratio) => (
          <g key={ratio}>
            <line x1={PAD.left} x2={WIDTH - PAD.right} y1={y(ratio)} y2={y(ratio)} class="grid" />
            <text x={PAD.left - 6} y={y(ratio) + 4} class="tick" text-anchor="end">
              {ratio * 100}%
            </text>
          </g>
        ))}
        {segments.map((d) => (
          <path key={d} d={d} class="line" />
        ))}
        {buckets.map((bucket, i) =>
          bucket.successRate === null ? null : (
            <circle key={bucket.start} cx={x(i)} cy={y(bucket.successRate)} r={3} class="dot">
              <title>{`${formatBucket(bucket.start)}: ${formatPercent(bucket.successRate)}`}</title>
            </circle>
          ),
        )}
        {axisLabels(buckets, formatBucket)}
      </svg>
    </figure>
  );
}

/** The charts' numbers, for screen readers and copying. */
export function BucketTable({ buckets, formatBucket }: Omit<ChartProps, 'label'>) {
  return (
    <details>
      <summary>Chart data as a table</summary>
      <table>
        <thead>
          <tr>
            <th scope="col">From</th>
            <th scope="col">Runs</th>
            <th scope="col">Succeeded</th>
            <th scope="col">Failed</th>
            <th scope="col">Success rate</th>
          </tr>
        </thead>
        <tbody>
          {buckets.map((bucket) => (
            <tr key={bucket.start}>
              <td>{formatBucket(bucket.start)}</td>
              <td>{bucket.total}</td>
              <td>{bucket.succeeded}</td>
              <td>{bucket.failed}</td>
              <td>{formatPercent(bucket.successRate)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}
