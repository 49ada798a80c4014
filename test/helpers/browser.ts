/**
 * Headless Chromium for the dashboard tests: Debian's package
 * (`apt-get install chromium`) driven by puppeteer-core, which downloads no
 * browser. Tests skip with `chromiumMissing` when it is not installed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'puppeteer-core';

const CANDIDATES = [process.env.FLOWMASTER_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => !!p);

export const chromiumPath: string | undefined = CANDIDATES.find((p) => fs.existsSync(p));

/** Why the browser tests cannot run here, or undefined. */
export const chromiumMissing: string | undefined = chromiumPath
  ? undefined
  : `no Chromium at ${CANDIDATES.join(' or ')} (apt-get install -y chromium; FLOWMASTER_CHROMIUM=<path> for another)`;

/** Chromium, headless; --no-sandbox because CI runs as root, where Chromium's sandbox refuses to start. */
export async function launchBrowser(): Promise<Browser> {
  const puppeteer = await import('puppeteer-core');
  return puppeteer.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--font-render-hinting=none', '--hide-scrollbars'],
    defaultViewport: { width: 1440, height: 1200, deviceScaleFactor: 1 },
  });
}

/** A new page that records uncaught exceptions, CSP refusals and failed requests (other than the ones a navigation aborts). */
export async function newPage(browser: Browser): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${(e as Error).message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content.Security.Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('requestfailed', (r) => {
    const why = r.failure()?.errorText ?? '';
    if (!/ERR_ABORTED/.test(why)) problems.push(`request failed: ${r.url()} ${why}`);
  });
  return { page, problems };
}

/** Pixels of a canvas within `tolerance` (per channel) of `hex` ('#2563eb'): what a series drew, not the axes or the grid. */
export function colorPixels(page: Page, selector: string, hex: string, tolerance = 40): Promise<number> {
  return page.evaluate(
    (sel, want, tol) => {
      const canvas = document.querySelector(sel) as HTMLCanvasElement | null;
      if (!canvas || !canvas.width || !canvas.height) return 0;
      const rgb = [1, 3, 5].map((i) => parseInt(want.slice(i, i + 2), 16));
      const data = (canvas.getContext('2d') as CanvasRenderingContext2D).getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 0; i < data.length; i += 4)
        if (data[i + 3] > 200 && Math.abs(data[i] - rgb[0]) <= tol && Math.abs(data[i + 1] - rgb[1]) <= tol && Math.abs(data[i + 2] - rgb[2]) <= tol) n++;
      return n;
    },
    selector,
    hex,
    tolerance,
  );
}

/** Where screenshots go: test-artifacts/ (gitignored), kept after the run for CI to collect. */
export function artifact(name: string): string {
  const dir = path.resolve(__dirname, '..', '..', 'test-artifacts');
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, name);
}
