// Headless Chromium for the Web UI test: the system browser (Debian's `chromium`) driven by
// playwright-core, which ships no browser of its own — nothing is downloaded at test time.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { type Browser, chromium, type Frame, type Page } from 'playwright-core';
import { REPO_ROOT } from './cli';

/** Debian's path; STOCKRX_CHROMIUM_PATH points elsewhere (another distribution, a local Chrome). */
export const CHROMIUM_PATH = process.env.STOCKRX_CHROMIUM_PATH || '/usr/bin/chromium';

/** Screenshots are kept here (gitignored), for CI to collect and a human to look at. */
export const ARTIFACTS_DIR = path.join(REPO_ROOT, 'test-artifacts', 'web-ui');

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    // Fail, not skip: a skipped test would hide that the Web UI acceptance check never ran.
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}: the Web UI test drives the system Chromium. ` +
        'Install it with `apt-get update && apt-get install -y --no-install-recommends chromium` as root ' +
        '(`npm test` run as root does this itself, and so does .ci/run), ' +
        'or set STOCKRX_CHROMIUM_PATH to another Chromium or Chrome binary.',
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    // No sandbox: CI runs as root, where Chromium's sandbox refuses to start. No GPU, no /dev/shm
    // (small in containers), no background requests to Google: a quiet, deterministic browser.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
    timeout: 120_000,
  });
}

/** A full-page screenshot under ARTIFACTS_DIR; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  const file = path.join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * The first frame of the page whose visible text contains `text`. The Web UI renders user
 * markdown (summaries, details) in sandboxed iframes, so the main document alone is not enough.
 */
export async function waitForTextInAnyFrame(page: Page, text: string, timeoutMs: number): Promise<Frame> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const frame of page.frames()) {
      const body = await frame
        .locator('body')
        .innerText({ timeout: 2000 })
        .catch(() => '');
      if (body.includes(text)) return frame;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for the page to show "${text}"`);
    await page.waitForTimeout(500);
  }
}
