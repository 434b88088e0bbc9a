// Adds aws-sdk-client-mock matchers (toReceiveCommandWith, ...) to vitest's expect.
import 'aws-sdk-client-mock-vitest/extend';
