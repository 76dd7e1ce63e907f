// Browser tests of the console against the local stack (make up): Debian's
// chromium, never a downloaded browser. The console's URL comes from
// .awe/console.url (scripts/console.sh) or AWE_CONSOLE_URL.
import { defineConfig } from '@playwright/test';
import { consoleUrl } from './e2e/support/stack';

export default defineConfig({
  testDir: './e2e',
  timeout: 90_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 2,
  reporter: [['list']],
  outputDir: 'test-results/playwright',
  use: {
    baseURL: consoleUrl(),
    viewport: { width: 1280, height: 860 },
    screenshot: 'only-on-failure',
    trace: 'off',
    launchOptions: {
      executablePath: process.env.AWE_CHROMIUM ?? '/usr/bin/chromium',
      // No network but loopback here: without these Chromium stalls on
      // refused connections to its own services.
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    },
  },
  // The timing runs after the other tests, alone, so they do not share the CPU.
  // (Each launch gets a fresh temporary profile: Playwright's default.)
  projects: [
    { name: 'chromium', use: { browserName: 'chromium' }, testIgnore: /perf\.spec\.ts/ },
    { name: 'timing', use: { browserName: 'chromium' }, testMatch: /perf\.spec\.ts/, dependencies: ['chromium'] },
  ],
});
