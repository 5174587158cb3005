import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserSession, browserSkipReason } from '../support/browser.js';

const skipReason = browserSkipReason();
if (skipReason) console.warn(`browser tests skipped: ${skipReason}`);

/**
 * The launcher's own check: the "no console errors" assertion of the dashboard test is only
 * worth something if the session really sees console errors, page errors and failed requests.
 */
describe.skipIf(skipReason !== null)(
  'the browser test launcher (Debian Chromium via playwright-core)',
  () => {
    let server: Server;
    let baseURL: string;
    let session: BrowserSession;
    const shots = mkdtempSync(path.join(tmpdir(), 'stepwise-shots-'));

    beforeAll(async () => {
      server = createServer((request, response) => {
        if (request.url === '/missing') return response.writeHead(404).end('no');
        if (request.url === '/broken')
          return response
            .writeHead(200, { 'content-type': 'text/html' })
            .end('<script>console.error("boom from console"); null.crash;</script>');
        response
          .writeHead(200, { 'content-type': 'text/html' })
          .end('<!doctype html><title>ok</title><main><h1>Fine</h1><button>Press</button></main>');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      session = await BrowserSession.open({ baseURL, screenshotDir: shots });
    });

    afterAll(async () => {
      await session?.close();
      await new Promise((resolve) => server?.close(resolve));
      rmSync(shots, { recursive: true, force: true });
    });

    it('renders a page, finds it by role and saves a PNG screenshot; a clean page records no problem', async () => {
      await session.page.goto('/');
      await expect(session.page.getByRole('heading', { name: 'Fine' }).textContent()).resolves.toBe('Fine');
      const file = await session.screenshot('Clean page');
      expect(path.basename(file)).toBe('01-clean-page.png');
      expect(existsSync(file)).toBe(true);
      expect(readFileSync(file).subarray(1, 4).toString()).toBe('PNG');
      expect(session.problems).toEqual([]);
    });

    it('records console errors, uncaught page errors and HTTP errors; excuses only the expected ones', async () => {
      await session.page.goto('/broken');
      await session.page.waitForTimeout(200);
      const kinds = session.problems.map((problem) => problem.kind);
      expect(kinds).toContain('console');
      expect(kinds).toContain('pageerror');
      expect(session.problems.find((problem) => problem.kind === 'console')?.text).toBe('boom from console');

      session.problems.length = 0;
      await session.expectingProblems(/\/missing$|status of 404/, async () => {
        await session.page.evaluate(() => fetch('/missing').then((response) => response.status));
      });
      expect(session.problems).toEqual([]);
      expect(session.excused.map((problem) => problem.kind)).toContain('http');

      await session.page.evaluate(() => fetch('/missing').then((response) => response.status));
      await session.page.waitForTimeout(200);
      expect(session.problems.map((problem) => problem.kind)).toContain('http');
    });
  },
);
