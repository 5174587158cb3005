import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Millis, RunRecord, WorkflowRecord } from '../domain/model.js';
import { csvField, escapeHtml, type RunReport } from '../domain/report-render.js';
import { makeEvent, makeOrg, makeRun, makeWorkflow } from '../store/store-fixtures.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { ReportService } from './report-service.js';
import { WorkflowService } from './workflow-service.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Monday 2024-01-08, noon UTC. */
const NOW: Millis = Date.UTC(2024, 0, 8, 12);
const JAN_1: Millis = Date.UTC(2024, 0, 1);

const zeros = { pending: 0, running: 0, completed: 0, partial_complete: 0, failed: 0, cancelled: 0 };

describe('ReportService', () => {
  let store: SqliteStore;
  let service: ReportService;
  let orgId: string;
  let workflow: WorkflowRecord;

  beforeEach(async () => {
    store = SqliteStore.open({ path: ':memory:' });
    await store.migrate();
    const org = makeOrg();
    await store.createOrg(org);
    orgId = org.id;
    workflow = makeWorkflow(orgId, { title: 'Nightly <sync> & "export"' });
    await store.insertWorkflow(workflow);
    const clock = { now: () => NOW };
    service = new ReportService(store, new WorkflowService(store, { has: () => true }, clock), clock);
  });

  afterEach(async () => {
    await store.close();
  });

  /** A run created at `createdAt`; when `durationMs` is given it started then and ran that long. */
  const addRun = async (
    status: RunRecord['status'],
    createdAt: Millis,
    durationMs?: number,
    overrides: Partial<RunRecord> = {},
  ): Promise<RunRecord> => {
    const timing =
      durationMs === undefined
        ? {}
        : { started_at: createdAt, finished_at: createdAt + durationMs, available_at: null };
    const run = makeRun(orgId, workflow.id, { status, created_at: createdAt, ...timing, ...overrides });
    return (await store.insertRun({ run, event: makeEvent(run.id, 'run.created', createdAt) })).run;
  };

  describe('summary', () => {
    it('gives counts, success rate, percentiles, credits and the last run', async () => {
      await addRun('completed', JAN_1, 100, { credits_consumed: 3 });
      await addRun('completed', JAN_1 + 1, 300, { credits_consumed: 3 });
      await addRun('partial_complete', JAN_1 + 2, 200, { credits_consumed: 2 });
      await addRun('failed', JAN_1 + 3, 400);
      await addRun('cancelled', JAN_1 + 4, undefined, { available_at: null, finished_at: JAN_1 + 9 });
      const last = await addRun('pending', JAN_1 + DAY);

      expect(await service.summary(orgId, workflow.id)).toEqual({
        workflow_id: workflow.id,
        total_runs: 6,
        by_status: { pending: 1, running: 0, completed: 2, partial_complete: 1, failed: 1, cancelled: 1 },
        success_rate: 0.6,
        // Durations 100, 200, 300, 400: positions 1.5 and 2.85 of the sorted list.
        duration_ms: { p50: 250, p95: 385 },
        credits_used: 8,
        last_run: {
          id: last.id,
          status: 'pending',
          created_at: '2024-01-02T00:00:00.000Z',
          finished_at: null,
        },
      });
    });

    it('gives zeros and nulls for a workflow without runs', async () => {
      expect(await service.summary(orgId, workflow.slug)).toEqual({
        workflow_id: workflow.id,
        total_runs: 0,
        by_status: zeros,
        success_rate: null,
        duration_ms: { p50: null, p95: null },
        credits_used: 0,
        last_run: null,
      });
    });

    it('keeps the success rate null while no run has finished, and rounds it to 4 decimals', async () => {
      await addRun('running', JAN_1);
      expect((await service.summary(orgId, workflow.id)).success_rate).toBeNull();
      await addRun('completed', JAN_1, 1);
      await addRun('completed', JAN_1, 1);
      await addRun('failed', JAN_1, 1);
      expect((await service.summary(orgId, workflow.id)).success_rate).toBe(0.6667);
    });

    it('summarises only the runs created in the range, when one is given', async () => {
      await addRun('completed', JAN_1 - 1, 5);
      await addRun('failed', JAN_1, 5);
      const summary = await service.summary(orgId, workflow.id, { from: '2024-01-01' });
      expect(summary.by_status).toEqual({ ...zeros, failed: 1 });
    });

    it("answers 404 for an unknown workflow and for another org's", async () => {
      const other = makeOrg();
      await store.createOrg(other);
      const foreign = makeWorkflow(other.id);
      await store.insertWorkflow(foreign);
      for (const ref of ['wf_missing', foreign.id]) {
        await expect(service.summary(orgId, ref)).rejects.toMatchObject({ status: 404, code: 'NOT_FOUND' });
        await expect(service.timeline(orgId, ref)).rejects.toMatchObject({ status: 404 });
        await expect(service.report(orgId, ref, 'html')).rejects.toMatchObject({ status: 404 });
      }
    });
  });

  describe('timeline', () => {
    it('defaults to day buckets covering the last 7 days, empty buckets filled in', async () => {
      await addRun('completed', JAN_1 + HOUR, 10);
      await addRun('failed', JAN_1 + 2 * HOUR, 10);
      await addRun('running', NOW - 1);
      await addRun('completed', JAN_1 - 1, 10); // before the range

      const timeline = await service.timeline(orgId, workflow.id);
      expect(timeline).toMatchObject({
        workflow_id: workflow.id,
        from: '2024-01-01T00:00:00.000Z',
        to: '2024-01-08T12:00:00.000Z',
        bucket: 'day',
        bucket_ms: DAY,
      });
      expect(timeline.buckets).toHaveLength(8);
      expect(timeline.buckets[0]).toEqual({
        bucket_start: '2024-01-01T00:00:00.000Z',
        total: 2,
        by_status: { ...zeros, completed: 1, failed: 1 },
      });
      expect(timeline.buckets[3]).toEqual({
        bucket_start: '2024-01-04T00:00:00.000Z',
        total: 0,
        by_status: zeros,
      });
      expect(timeline.buckets[7]).toEqual({
        bucket_start: '2024-01-08T00:00:00.000Z',
        total: 1,
        by_status: { ...zeros, running: 1 },
      });
    });

    it('buckets by hour, by minutes and by week (weeks start on Monday)', async () => {
      await addRun('completed', JAN_1 + 20 * MINUTE, 1);
      await addRun('completed', JAN_1 + 6 * DAY, 1); // Sunday: still the week of Jan 1

      const hours = await service.timeline(orgId, workflow.id, {
        from: '2024-01-01',
        to: '2024-01-01T03:00Z',
        bucket: 'hour',
      });
      expect(hours.buckets.map((b) => [b.bucket_start.slice(11, 16), b.total])).toEqual([
        ['00:00', 1],
        ['01:00', 0],
        ['02:00', 0],
      ]);
      const quarters = await service.timeline(orgId, workflow.id, {
        from: '2024-01-01T00:00:00',
        to: '2024-01-01T00:45:00',
        bucket: '15m',
      });
      expect(quarters.buckets.map((b) => b.total)).toEqual([0, 1, 0]);
      expect(quarters.bucket_ms).toBe(15 * MINUTE);
      const weeks = await service.timeline(orgId, workflow.id, {
        from: '2023-12-28',
        to: '2024-01-15',
        bucket: 'week',
      });
      expect(weeks.buckets.map((b) => [b.bucket_start.slice(0, 10), b.total])).toEqual([
        ['2023-12-25', 0],
        ['2024-01-01', 2],
        ['2024-01-08', 0],
      ]);
    });

    it('reads a date-time offset and treats a zone-less one as UTC', async () => {
      const timeline = await service.timeline(orgId, workflow.id, {
        from: '2024-01-01T02:00:00+02:00',
        to: '2024-01-01T06:30:00',
        bucket: 'hour',
      });
      expect([timeline.from, timeline.to]).toEqual(['2024-01-01T00:00:00.000Z', '2024-01-01T06:30:00.000Z']);
      expect(timeline.buckets).toHaveLength(7);
    });

    it.each([
      [{ bucket: 'fortnight' }, 'bucket', /'hour', 'day', 'week' or minutes/],
      [{ bucket: '0m' }, 'bucket', /got '0m'/],
      [{ bucket: 'constructor' }, 'bucket', /got 'constructor'/],
      [{ from: 'yesterday' }, 'from', /ISO 8601/],
      [{ to: '2024-02-30' }, 'to', /got '2024-02-30'/],
      [{ from: '2024-01-01T25:00:00Z' }, 'from', /ISO 8601/],
      [{ from: '2024-01-02', to: '2024-01-01' }, 'from', /must be before to/],
      [{ from: '2024-01-01', to: '2024-01-01' }, 'from', /must be before to/],
      [{ from: '2024-01-01', to: '2024-01-31', bucket: '15m' }, 'bucket', /2880 buckets, at most 1000/],
      [{ bucket: '1m' }, 'bucket', /at most 1000/],
    ])('refuses %j with a 400 naming %s', async (input, field, message) => {
      await expect(service.timeline(orgId, workflow.id, input)).rejects.toMatchObject({
        status: 400,
        code: 'VALIDATION_FAILED',
        field,
        message: expect.stringMatching(message),
      });
    });

    it('accepts exactly 1,000 buckets', async () => {
      const timeline = await service.timeline(orgId, workflow.id, {
        from: '2024-01-01',
        to: '2024-01-01T16:40:00Z',
        bucket: '1m',
      });
      expect(timeline.buckets).toHaveLength(1000);
    });
  });

  describe('report', () => {
    const window = { from: '2024-01-01', to: '2024-01-03', bucket: 'day' };

    const seed = async () => {
      await addRun('completed', JAN_1 + HOUR, 1500, { credits_consumed: 3 });
      await addRun('pending', JAN_1 + 2 * HOUR);
      return addRun('failed', JAN_1 + 3 * HOUR, 20, {
        error: {
          code: 'HTTP_500',
          message: '<script>alert("x")</script> & more',
          details: { body: 'secret-ish' },
        },
      });
    };

    it('renders the timeline as RFC 4180 CSV, one CRLF row per bucket', async () => {
      await seed();
      const csv = await service.report(orgId, workflow.id, 'csv', window);
      expect(csv.contentType).toBe('text/csv; charset=utf-8; header=present');
      expect(csv.filename).toBe(`${workflow.slug}-report.csv`);
      expect(csv.body).toBe(
        'bucket_start,total,completed,partial_complete,failed,cancelled\r\n' +
          '2024-01-01T00:00:00.000Z,3,1,0,1,0\r\n' +
          '2024-01-02T00:00:00.000Z,0,0,0,0,0\r\n',
      );
    });

    it('gives the summary, the timeline and the recent failures as JSON, without error details', async () => {
      const failed = await seed();
      const json = await service.report(orgId, workflow.slug, 'json', window);
      expect(json.contentType).toBe('application/json; charset=utf-8');
      const report = JSON.parse(json.body) as RunReport;
      expect(report).toEqual({
        workflow: { id: workflow.id, slug: workflow.slug, title: workflow.title },
        generated_at: '2024-01-08T12:00:00.000Z',
        summary: await service.summary(orgId, workflow.id),
        timeline: await service.timeline(orgId, workflow.id, window),
        recent_failures: [
          {
            id: failed.id,
            status: 'failed',
            error: { code: 'HTTP_500', message: '<script>alert("x")</script> & more' },
            created_at: '2024-01-01T03:00:00.000Z',
            finished_at: '2024-01-01T03:00:00.020Z',
          },
        ],
      });
    });

    it('defaults to JSON and refuses an unknown format with a 400 naming format', async () => {
      expect((await service.report(orgId, workflow.id)).contentType).toBe('application/json; charset=utf-8');
      for (const format of ['pdf', 'JSON', 'toString']) {
        await expect(service.report(orgId, workflow.id, format)).rejects.toMatchObject({
          status: 400,
          field: 'format',
        });
      }
    });

    it('renders a self-contained HTML page with an accessible SVG chart and the failure table, all escaped', async () => {
      const failed = await seed();
      const html = await service.report(orgId, workflow.id, 'html', window);
      expect(html.contentType).toBe('text/html; charset=utf-8');
      const page = html.body;
      expect(page).toMatch(/^<!doctype html>/);
      expect(page).toContain('<title>Run report: Nightly &lt;sync&gt; &amp; &quot;export&quot;</title>');
      expect(page).toMatch(/<svg role="img" aria-labelledby="chart-title chart-desc"/);
      expect(page).toContain(
        '<title id="chart-title">Runs per day from 2024-01-01T00:00:00.000Z to 2024-01-03T00:00:00.000Z</title>',
      );
      // One stack of three runs in the first bucket: a rect per status present.
      expect(page.match(/<rect /g)).toHaveLength(3);
      expect(page).toContain('<title>2024-01-01T00:00:00.000Z: 1 failed</title>');
      expect(page).toContain('>2024-01-01</text>');
      expect(page).toMatch(/<dt>Success rate<\/dt><dd>50%<\/dd>/);
      expect(page).toMatch(/<dt>Duration p95<\/dt><dd>1\.43 s<\/dd>/);
      expect(page).toContain(`<td><code>${failed.id}</code></td>`);
      expect(page).toContain(
        '<code>HTTP_500</code> &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more</td>',
      );
      expect(page).not.toMatch(/<script/i);
      expect(page).not.toContain('secret-ish');
    });

    it('says so when there are no failures, and draws empty axes for no runs', async () => {
      const { body } = await service.report(orgId, workflow.id, 'html', window);
      expect(body).toContain('<td colspan="4">No failed runs.</td>');
      expect(body).toContain('<desc id="chart-desc">0 runs in 2 buckets, stacked by status.</desc>');
      expect(body).not.toContain('<rect');
    });
  });
});

describe('report rendering helpers', () => {
  it('quotes a CSV field only when RFC 4180 requires it', () => {
    expect(['plain', 42, 'a,b', 'say "hi"', 'two\r\nlines'].map(csvField)).toEqual([
      'plain',
      '42',
      '"a,b"',
      '"say ""hi"""',
      '"two\r\nlines"',
    ]);
  });

  it('escapes the five HTML-significant characters', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
    );
  });
});
