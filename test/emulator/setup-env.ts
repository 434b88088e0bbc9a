import { inject } from 'vitest';

/**
 * Runs in every emulator test worker before the test files: every SDK client created without an explicit
 * endpoint (handlers, the CLI) talks to the emulator, with dummy credentials, and no ~/.aws profile or instance
 * metadata can supply real ones.
 */
const endpoints = inject('emulatorEndpoints');
// This worker's own server: the files of one worker run one after the other, each resetting it first.
const endpoint = endpoints[(Number(process.env.VITEST_POOL_ID ?? 1) - 1) % endpoints.length] ?? '';
if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(endpoint)) {
  throw new Error(`emulator endpoint must be a local moto server, got '${endpoint}'`);
}
process.env.AWS_ENDPOINT_URL = endpoint;
// Kept apart for test/emulator/support.ts: some tests change AWS_ENDPOINT_URL on purpose.
process.env.EMULATOR_ENDPOINT = endpoint;
process.env.AWS_ACCESS_KEY_ID = 'testing';
process.env.AWS_SECRET_ACCESS_KEY = 'testing';
process.env.AWS_EC2_METADATA_DISABLED = 'true';
process.env.AWS_REGION ??= 'us-east-1';
for (const name of [
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_SESSION_TOKEN',
  'AWS_ROLE_ARN',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
]) {
  delete process.env[name];
}
// Point the shared config/credentials files at nothing so a developer's profiles are never read.
process.env.AWS_CONFIG_FILE = '/nonexistent/cost-watchdog-emulator/config';
process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/cost-watchdog-emulator/credentials';
