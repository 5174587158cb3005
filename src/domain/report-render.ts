import type { RunStatus } from './run-state.js';

/** A count for every run status, zeros included. */
export type RunStatusCounts = Record<RunStatus, number>;

/** `GET /v1/workflows/{id}/summary`: a workflow's runs at a glance. Times are ISO 8601 UTC. */
export interface RunSummary {
  workflow_id: string;
  total_runs: number;
  by_status: RunStatusCounts;
  /** (completed + partial_complete) / finished runs, to 4 decimals; null when none finished. */
  success_rate: number | null;
  /** Percentiles of `finished_at - started_at` (see `ReportStore`), to 0.01 ms; null when no run has both. */
  duration_ms: { p50: number | null; p95: number | null };
  credits_used: number;
  last_run: { id: string; status: RunStatus; created_at: string; finished_at: string | null } | null;
}

/** One bucket of a timeline: the runs created in `[bucket_start, bucket_start + bucket_ms)`. */
export interface RunTimelineBucket {
  bucket_start: string;
  total: number;
  by_status: RunStatusCounts;
}

/** `GET /v1/workflows/{id}/summary/timeline`: runs per bucket, every bucket of the range present. */
export interface RunTimeline {
  workflow_id: string;
  /** Runs created in `[from, to)` are counted. */
  from: string;
  to: string;
  /** As asked: `hour`, `day`, `week` or minutes such as `15m`. */
  bucket: string;
  bucket_ms: number;
  buckets: RunTimelineBucket[];
}

/** A failed run in a report. */
export interface RunFailure {
  id: string;
  status: RunStatus;
  error: { code: string; message: string } | null;
  created_at: string;
  finished_at: string | null;
}

/** Everything `GET /v1/workflows/{id}/summary/report` shows, in every format. */
export interface RunReport {
  workflow: { id: string; slug: string; title: string };
  generated_at: string;
  summary: RunSummary;
  timeline: RunTimeline;
  recent_failures: RunFailure[];
}

/** Bottom to top in the chart's stacks, and the legend's order. */
const STATUS_STYLE: readonly { status: RunStatus; label: string; color: string }[] = [
  { status: 'completed', label: 'Completed', color: '#2e7d32' },
  { status: 'partial_complete', label: 'Partially complete', color: '#f9a825' },
  { status: 'failed', label: 'Failed', color: '#c62828' },
  { status: 'cancelled', label: 'Cancelled', color: '#757575' },
  { status: 'running', label: 'Running', color: '#1565c0' },
  { status: 'pending', label: 'Pending', color: '#90caf9' },
];

const CSV_STATUSES = ['completed', 'partial_complete', 'failed', 'cancelled'] as const;

/** One RFC 4180 field: quoted, inner quotes doubled, when it holds a comma, a quote or a line break. */
export function csvField(value: string | number): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * The timeline as RFC 4180 CSV: a header, then one CRLF-terminated row per bucket.
 * `total` also counts the pending and running runs, which have no column.
 */
export function renderTimelineCsv(timeline: RunTimeline): string {
  const rows = [
    ['bucket_start', 'total', ...CSV_STATUSES],
    ...timeline.buckets.map((b) => [b.bucket_start, b.total, ...CSV_STATUSES.map((s) => b.by_status[s])]),
  ];
  return rows.map((row) => `${row.map(csvField).join(',')}\r\n`).join('');
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text safe in HTML content and in quoted attribute values. */
export const escapeHtml = (value: unknown): string => String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);

const formatRate = (rate: number | null): string => (rate === null ? '—' : `${+(rate * 100).toFixed(1)}%`);

function formatDuration(ms: number | null): string {
  if (ms === null) return '—';
  if (ms < 1000) return `${+ms.toFixed(1)} ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(2)} s`;
  return `${+(ms / 60_000).toFixed(1)} min`;
}

const time = (iso: string | null): string =>
  iso === null
    ? '—'
    : `<time datetime="${escapeHtml(iso)}">${escapeHtml(iso.replace('T', ' ').replace(/\.000Z$/, 'Z'))}</time>`;

const DAY_MS = 86_400_000;
const CHART = { width: 800, height: 320, left: 56, right: 16, top: 16, bottom: 56 } as const;
const MAX_X_LABELS = 8;

/** Y-axis ticks from 0 past `max`, in about 4 steps of 1, 2 or 5 times a power of ten, so labels stay round. */
function yTicks(max: number): number[] {
  if (max <= 0) return [0, 1];
  const rough = max / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = Math.max(
    1,
    [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough)!,
  );
  return Array.from({ length: Math.ceil(max / step) + 1 }, (_, i) => i * step);
}

/** A bucket's start as a short axis label: the date alone for day-long buckets or wider. */
const bucketLabel = (iso: string, bucketMs: number): string =>
  bucketMs >= DAY_MS && iso.endsWith('T00:00:00.000Z')
    ? iso.slice(0, 10)
    : iso.slice(5, 16).replace('T', ' ');

/** Stacked bars of runs per bucket and status, with axes, labels and an accessible name. */
function renderChart(timeline: RunTimeline): string {
  const { width, height, left, right, top, bottom } = CHART;
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const buckets = timeline.buckets;
  const ticks = yTicks(Math.max(0, ...buckets.map((b) => b.total)));
  const yMax = ticks[ticks.length - 1]!;
  const y = (count: number): number => top + plotHeight - (count / yMax) * plotHeight;
  const slot = plotWidth / Math.max(1, buckets.length);
  const barWidth = Math.max(0.5, slot * 0.8);
  const fmt = (n: number): string => String(+n.toFixed(2));

  const grid = ticks.map(
    (tick) =>
      `<line x1="${left}" x2="${width - right}" y1="${fmt(y(tick))}" y2="${fmt(y(tick))}" stroke="#e0e0e0"/>` +
      `<text x="${left - 6}" y="${fmt(y(tick) + 4)}" text-anchor="end">${escapeHtml(tick)}</text>`,
  );
  const bars = buckets.flatMap((bucket, i) => {
    let base = 0;
    return STATUS_STYLE.flatMap(({ status, label, color }) => {
      const count = bucket.by_status[status];
      if (count === 0) return [];
      const rect =
        `<rect x="${fmt(left + i * slot + (slot - barWidth) / 2)}" y="${fmt(y(base + count))}" ` +
        `width="${fmt(barWidth)}" height="${fmt(y(base) - y(base + count))}" fill="${color}">` +
        `<title>${escapeHtml(`${bucket.bucket_start}: ${count} ${label.toLowerCase()}`)}</title></rect>`;
      base += count;
      return [rect];
    });
  });
  const every = Math.ceil(buckets.length / MAX_X_LABELS);
  const xLabels = buckets.flatMap((bucket, i) =>
    i % every === 0
      ? [
          `<text x="${fmt(left + (i + 0.5) * slot)}" y="${height - bottom + 18}" text-anchor="middle">` +
            `${escapeHtml(bucketLabel(bucket.bucket_start, timeline.bucket_ms))}</text>`,
        ]
      : [],
  );
  const total = buckets.reduce((sum, b) => sum + b.total, 0);
  const name = `Runs per ${timeline.bucket} from ${timeline.from} to ${timeline.to}`;
  const description = `${total} runs in ${buckets.length} buckets, stacked by status.`;
  return [
    `<svg role="img" aria-labelledby="chart-title chart-desc" viewBox="0 0 ${width} ${height}" width="100%" font-size="11" font-family="system-ui, sans-serif">`,
    `<title id="chart-title">${escapeHtml(name)}</title>`,
    `<desc id="chart-desc">${escapeHtml(description)}</desc>`,
    ...grid,
    ...bars,
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotHeight}" stroke="#424242"/>`,
    `<line x1="${left}" x2="${width - right}" y1="${top + plotHeight}" y2="${top + plotHeight}" stroke="#424242"/>`,
    ...xLabels,
    `<text x="${left + plotWidth / 2}" y="${height - 8}" text-anchor="middle">Bucket start (UTC)</text>`,
    `<text transform="translate(14 ${top + plotHeight / 2}) rotate(-90)" text-anchor="middle">Runs</text>`,
    '</svg>',
  ].join('\n');
}

const LEGEND = `<ul class="legend">${STATUS_STYLE.map(
  ({ label, color }) =>
    `<li><span class="swatch" style="background:${color}"></span>${escapeHtml(label)}</li>`,
).join('')}</ul>`;

function renderFigures(summary: RunSummary): string {
  const last = summary.last_run;
  const figures: [string, string][] = [
    ['Runs', escapeHtml(summary.total_runs)],
    ['Success rate', escapeHtml(formatRate(summary.success_rate))],
    ['Duration p50', escapeHtml(formatDuration(summary.duration_ms.p50))],
    ['Duration p95', escapeHtml(formatDuration(summary.duration_ms.p95))],
    ['Credits used', escapeHtml(summary.credits_used)],
    [
      'Last run',
      last === null
        ? '—'
        : `<code>${escapeHtml(last.id)}</code> ${escapeHtml(last.status)}, ${time(last.created_at)}`,
    ],
    ...STATUS_STYLE.map(({ status, label }): [string, string] => [
      label,
      escapeHtml(summary.by_status[status]),
    ]),
  ];
  return `<dl class="figures">${figures.map(([term, value]) => `<div><dt>${escapeHtml(term)}</dt><dd>${value}</dd></div>`).join('')}</dl>`;
}

function renderFailures(failures: RunFailure[]): string {
  const rows =
    failures.length === 0
      ? '<tr><td colspan="4">No failed runs.</td></tr>'
      : failures
          .map(
            (f) =>
              `<tr><td><code>${escapeHtml(f.id)}</code></td><td>${time(f.created_at)}</td><td>${time(f.finished_at)}</td>` +
              `<td>${f.error === null ? '—' : `<code>${escapeHtml(f.error.code)}</code> ${escapeHtml(f.error.message)}`}</td></tr>`,
          )
          .join('\n');
  return `<table><thead><tr><th scope="col">Run</th><th scope="col">Created</th><th scope="col">Finished</th><th scope="col">Error</th></tr></thead>\n<tbody>\n${rows}\n</tbody></table>`;
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#212121}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(11rem,1fr));gap:.5rem}
.figures div{border:1px solid #e0e0e0;border-radius:4px;padding:.5rem}dt{font-size:.8rem;color:#616161}dd{margin:0;font-size:1.1rem}
.legend{display:flex;flex-wrap:wrap;gap:1rem;list-style:none;padding:0}.swatch{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #e0e0e0;padding:.4rem;text-align:left;vertical-align:top}`;

/**
 * A self-contained HTML page (no script, no external resource): the summary figures, an
 * inline SVG chart of runs over time, and the recent failures. Every value is escaped.
 */
export function renderReportHtml(report: RunReport): string {
  const { workflow, summary, timeline } = report;
  const title = `Run report: ${workflow.title}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
<p>Workflow <code>${escapeHtml(workflow.id)}</code> (${escapeHtml(workflow.slug)}), generated ${time(report.generated_at)}.</p>
<section aria-labelledby="summary-heading">
<h2 id="summary-heading">Summary, all runs</h2>
${renderFigures(summary)}
</section>
<section aria-labelledby="timeline-heading">
<h2 id="timeline-heading">Runs over time</h2>
<p>Runs created from ${time(timeline.from)} to ${time(timeline.to)}, per ${escapeHtml(timeline.bucket)}.</p>
${renderChart(timeline)}
${LEGEND}
</section>
<section aria-labelledby="failures-heading">
<h2 id="failures-heading">Recent failures</h2>
${renderFailures(report.recent_failures)}
</section>
</main>
</body>
</html>
`;
}
