import type { FanOutQueueUrls } from '../aws/fan-out-queue.js';
import { ConfigError } from '../core/errors.js';

/** The environment variables serverless.yml sets for the fan-out (the sweep and the sweep-worker). */
export const FAN_OUT_ENV = {
  /** on: the stack has the worker's SQS trigger (scripts/serverless-params.cjs fanOut); off: runs never fan out. */
  deployed: 'FAN_OUT',
  targets: 'TARGETS_QUEUE_URL',
  results: 'RESULTS_QUEUE_URL',
  deadLetter: 'DEAD_LETTER_QUEUE_URL',
} as const;

/** Whether the stack was deployed with the fan-out (FAN_OUT=on). */
export function fanOutDeployedIn(env: NodeJS.ProcessEnv): boolean {
  return env[FAN_OUT_ENV.deployed]?.trim() === 'on';
}

/** The queue URLs; a ConfigError names a missing one. */
export function fanOutQueueUrls(env: NodeJS.ProcessEnv): FanOutQueueUrls {
  const need = (name: string) => {
    const value = env[name]?.trim();
    if (!value) {
      throw new ConfigError(`environment variable ${name} is not set; it is set by serverless.yml on deploy`);
    }
    return value;
  };
  return {
    targets: need(FAN_OUT_ENV.targets),
    results: need(FAN_OUT_ENV.results),
    deadLetter: need(FAN_OUT_ENV.deadLetter),
  };
}
