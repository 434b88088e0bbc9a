// Adds aws-sdk-client-mock matchers (toReceiveCommandWith, ...) to vitest's expect.
import 'aws-sdk-client-mock-vitest/extend';

// Unit tests never reach a network: an SDK client that a test forgot to mock goes to a closed port on this machine
// and fails at once, instead of reaching real AWS with whatever credentials are around.
process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:9';
process.env.AWS_ACCESS_KEY_ID = 'unit-test';
process.env.AWS_SECRET_ACCESS_KEY = 'unit-test';
process.env.AWS_EC2_METADATA_DISABLED = 'true';
delete process.env.AWS_PROFILE;
