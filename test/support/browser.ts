import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  chromium,
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  type Page,
} from 'playwright-core';

/**
 * Real-browser tests drive Debian's Chromium (`apt-get install chromium`; `.ci/run` installs it
 * when missing) through playwright-core, which downloads no browser of its own.
 * STEPWISE_CHROMIUM points at another Chromium build.
 */
export const CHROMIUM_PATH = process.env.STEPWISE_CHROMIUM || '/usr/bin/chromium';

/** Screenshots and other browser artefacts; kept out of git, eslint and prettier. */
export const ARTIFACT_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../test-artifacts/screenshots',
);

/**
 * Flags for a quiet, deterministic headless run in a container: no sandbox (CI runs as root),
 * no GPU, and no traffic of the browser's own (updates, sync, QUIC probes, first-run pages)
 * that could slow a test or show up as a failed request. Playwright's `launch` gives each
 * browser a fresh temporary profile (user-data-dir) and removes it on close.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/** Whether this is a CI run (`CI` set to anything but empty, `0` or `false`, as CI services do). */
export function inCI(): boolean {
  const value = process.env.CI?.trim() ?? '';
  return value !== '' && !/^(0|false)$/i.test(value);
}

/**
 * Why the browser suite cannot run here, or null when it can. Without Chromium a developer's
 * `npm test` skips it with this reason; under CI (`CI` set) nothing is skipped, and the missing
 * browser fails the suite instead, so a broken CI image cannot pass silently.
 */
export function browserSkipReason(): string | null {
  if (existsSync(CHROMIUM_PATH)) return null;
  if (inCI()) return null; // launch fails loudly below
  return `no Chromium at ${CHROMIUM_PATH}: install Debian's chromium (apt-get install chromium) or set STEPWISE_CHROMIUM; skipped outside CI`;
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium is required for the browser tests but ${CHROMIUM_PATH} does not exist ` +
        `(CI=${process.env.CI ?? ''}). .ci/run installs it with apt; or set STEPWISE_CHROMIUM.`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    chromiumSandbox: false,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
  });
}

/** The context options every page of a {@link BrowserSession} shares unless {@link BrowserSession.openPage} overrides them. */
type ContextOptions = Pick<BrowserContextOptions, 'baseURL' | 'viewport' | 'locale' | 'timezoneId'>;

/** Something that went wrong in the page: a console error, an uncaught exception, a failed request. */
export interface PageProblem {
  kind: 'console' | 'pageerror' | 'requestfailed' | 'http';
  text: string;
  url: string;
}

/**
 * A page that records every console error, uncaught page error, failed request and HTTP
 * response ≥ 400, so a test can assert the run had none; and that saves numbered screenshots.
 */
export class BrowserSession {
  /** Problems so far, less those excused by {@link expectingProblems}. */
  readonly problems: PageProblem[] = [];
  readonly excused: PageProblem[] = [];
  private shots = 0;

  /** Pages opened by {@link openPage}, each in a context of its own; closed with the session. */
  private readonly extraContexts: BrowserContext[] = [];

  private constructor(
    readonly browser: Browser,
    readonly context: BrowserContext,
    readonly page: Page,
    readonly screenshotDir: string,
    private readonly contextOptions: ContextOptions,
  ) {
    this.watch(page);
  }

  /** Records `page`'s console errors, uncaught errors, failed requests and HTTP errors in {@link problems}. */
  private watch(page: Page): void {
    page.on('console', (message) => {
      if (message.type() === 'error')
        this.record({ kind: 'console', text: message.text(), url: message.location().url });
    });
    page.on('pageerror', (error) =>
      this.record({ kind: 'pageerror', text: error.stack ?? error.message, url: page.url() }),
    );
    page.on('requestfailed', (request) => {
      const failure = request.failure()?.errorText ?? 'failed';
      // A request the page itself dropped (navigating away, an aborted fetch, a closed event
      // stream) is not a fault.
      if (failure === 'net::ERR_ABORTED') return;
      this.record({ kind: 'requestfailed', text: `${request.method()} ${failure}`, url: request.url() });
    });
    page.on('response', (response) => {
      if (response.status() >= 400)
        this.record({
          kind: 'http',
          text: `${response.request().method()} ${response.status()}`,
          url: response.url(),
        });
    });
  }

  /**
   * Launches Chromium and opens one page on `baseURL`. Screenshots go to `screenshotDir`
   * (default {@link ARTIFACT_DIR}), emptied first when `fresh`, so it holds only this run's.
   */
  static async open(options: {
    baseURL: string;
    screenshotDir?: string;
    fresh?: boolean;
  }): Promise<BrowserSession> {
    const browser = await launchChromium();
    const contextOptions: ContextOptions = {
      baseURL: options.baseURL,
      viewport: { width: 1280, height: 860 },
      locale: 'en-US',
      timezoneId: 'UTC',
    };
    const context = await browser.newContext(contextOptions);
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    const dir = options.screenshotDir ?? ARTIFACT_DIR;
    if (options.fresh) rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    return new BrowserSession(browser, context, page, dir, contextOptions);
  }

  /**
   * Opens a page in a new context of the same browser, like the first but for `overrides`
   * (a viewer in another time zone: `{ timezoneId: 'Europe/Berlin' }`). It starts signed out
   * (its own sessionStorage); its problems are recorded with the first page's.
   */
  async openPage(overrides: Partial<ContextOptions>): Promise<Page> {
    const context = await this.browser.newContext({ ...this.contextOptions, ...overrides });
    context.setDefaultTimeout(10_000);
    this.extraContexts.push(context);
    const page = await context.newPage();
    this.watch(page);
    return page;
  }

  private record(problem: PageProblem): void {
    this.problems.push(problem);
  }

  /**
   * Runs `action` and excuses the problems it causes that match `pattern` (text or URL), such
   * as the 401 of a deliberately wrong key; problems outside `action`, or not matching, stay.
   */
  async expectingProblems<T>(pattern: RegExp, action: () => Promise<T>): Promise<T> {
    const from = this.problems.length;
    const result = await action();
    await new Promise((resolve) => setTimeout(resolve, 250)); // late console lines of the same request
    for (let index = this.problems.length - 1; index >= from; index -= 1) {
      const problem = this.problems[index]!;
      if (pattern.test(problem.text) || pattern.test(problem.url)) {
        this.excused.push(problem);
        this.problems.splice(index, 1);
      }
    }
    return result;
  }

  /** Saves a full-page PNG of `page` (the first by default) as `<dir>/<nn>-<name>.png` and returns its path. */
  async screenshot(name: string, page: Page = this.page): Promise<string> {
    this.shots += 1;
    const safe = name.replace(/[^a-z0-9_-]+/gi, '-').toLowerCase();
    const file = path.join(this.screenshotDir, `${String(this.shots).padStart(2, '0')}-${safe}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  }

  /** Closes the browser, leaving `problems.json` (what was recorded and what excused) beside the screenshots. */
  async close(): Promise<void> {
    writeFileSync(
      path.join(this.screenshotDir, 'problems.json'),
      `${JSON.stringify({ problems: this.problems, excused: this.excused }, null, 2)}\n`,
    );
    for (const context of [...this.extraContexts, this.context]) await context.close().catch(() => undefined);
    await this.browser.close();
  }
}
