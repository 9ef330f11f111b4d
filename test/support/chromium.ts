import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';

/** Debian's Chromium, which .ci/run installs. */
const CHROMIUM = '/usr/bin/chromium';

/** A browser test's `skip`: false, or why it cannot run here. */
export const noBrowser: false | string = existsSync(CHROMIUM)
  ? false
  : `no browser: ${CHROMIUM} is missing (apt-get install chromium)`;

/** Debian's Chromium, headless, with nothing of its own going to the network. */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
