import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

/**
 * On Node.js 20 every process that creates an AWS SDK client warns once that SDK releases after January 2027 need
 * Node.js 22 (aws-sdk-js-v3#7983). The project supports Node.js 20 for local runs (the functions run on
 * nodejs22.x), so the tests, and the serverless and CLI processes they start, use the SDK's documented switch.
 */
const QUIET_SDK = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };

/**
 * Three projects, all run by `npm test` (= `vitest run`):
 * - unit: core logic and adapters against aws-sdk-client-mock, in parallel.
 * - emulator: handlers, adapters and the CLI against moto servers on 127.0.0.1 that
 *   test/emulator/global-setup.ts installs (first run), starts (one per worker) and stops. A worker's files share
 *   its server and run one after the other (each resets it first), beside the unit files. Never skipped, in CI or
 *   not: without python3 the suite fails and says how to install it.
 * - pages: the keep / stop pages in Debian's chromium (playwright-core) at phone and desktop sizes, served from
 *   127.0.0.1; test/pages/global-setup.ts installs chromium with `bash scripts/browser.sh setup` when missing.
 */
export default defineConfig({
  test: {
    // At least two files at once: by default Vitest keeps one core free, which on a 2-core machine ran every file
    // one after the other (268 s for the suite, 171 s with two workers). The tests wait on child processes and the
    // emulator much of the time; each worker has its own moto server (test/emulator/global-setup.ts).
    maxWorkers: Math.max(2, availableParallelism()),
    // Temporary files of the whole run in one folder, removed at the end (test/support/tmp-setup.ts).
    globalSetup: ['test/support/tmp-setup.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          // aws-sdk-client-mock matchers (toReceiveCommandWith, ...)
          setupFiles: ['test/unit/setup.ts'],
          env: QUIET_SDK,
          // Property tests scale with PROPERTY_RUNS (CI: 5000); a slow machine must not turn that into a failure.
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'emulator',
          include: ['test/emulator/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/emulator/global-setup.ts'],
          setupFiles: ['test/emulator/setup-env.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Dummy credentials and no instance-metadata lookups: nothing here can reach real AWS. setup-env.ts
          // also points AWS_ENDPOINT_URL at the emulator and hides any ~/.aws profile.
          env: {
            ...QUIET_SDK,
            AWS_ACCESS_KEY_ID: 'testing',
            AWS_SECRET_ACCESS_KEY: 'testing',
            AWS_EC2_METADATA_DISABLED: 'true',
            AWS_REGION: 'us-east-1',
          },
        },
      },
      {
        test: {
          name: 'pages',
          include: ['test/pages/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/pages/global-setup.ts'],
          env: QUIET_SDK,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
