/**
 * Headless Debian Chromium for tests, driven by playwright-core (which never downloads a
 * browser). Every request that does not go to 127.0.0.1 is blocked and recorded, and page
 * errors are recorded, so a test can fail on either.
 */
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Flags that let the WWT engine's WebGL run in software, with no background traffic. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--enable-unsafe-swiftshader',
];

export const haveChromium = (): boolean => existsSync(CHROMIUM);

export interface TestBrowser {
  page: Page;
  /** Uncaught page errors and console errors, in order. */
  errors: string[];
  /** URLs the page tried to reach off 127.0.0.1 (all were aborted). */
  blocked: string[];
  close(): Promise<void>;
}

export async function openTestBrowser(viewport = { width: 1100, height: 700 }): Promise<TestBrowser> {
  const userDataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'toasty-chromium-'));
  let context: BrowserContext | null = null;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      headless: true,
      viewport,
      deviceScaleFactor: 1,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    const blocked: string[] = [];
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    await context.route('**/*', (route) => {
      const url = route.request().url();
      let host = '';
      try {
        host = new URL(url).hostname;
      } catch {
        // unparsable: block
      }
      if (host === '127.0.0.1' || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
      blocked.push(url);
      return route.abort('blockedbyclient');
    });
    const ctx = context;
    return {
      page,
      errors,
      blocked,
      close: async () => {
        await ctx.close().catch(() => {});
        await fsp.rm(userDataDir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await context?.close().catch(() => {});
    await fsp.rm(userDataDir, { recursive: true, force: true });
    throw e;
  }
}
