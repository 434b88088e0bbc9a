/**
 * What the stack needs to know about the fan-out (serverless.yml reads it through scripts/serverless-params.cjs, which
 * bundles this file): whether the sweep-worker gets its SQS trigger, with which batch size and maximum concurrency,
 * and the sweep's timeout. Pure; only the keys it uses are validated, as the functions will validate them.
 */
import { fanOutDeployed } from './fan-out.js';
import { parsePolicyText } from './policy.js';

/** The sweep's timeout without the fan-out (s), and with it: the summary waits for the workers, up to 13 minutes. */
export const SWEEP_TIMEOUT_SECONDS = { single: 300, fanOut: 900 } as const;

/** The sweep-worker's timeout (s): one target of 10,000 instances takes about a minute on its first run. */
export const WORKER_TIMEOUT_SECONDS = 300;

/** The sweep-worker's memory (MB): up to 10 targets at once, a target of 10,000 instances peaks near 150 MB. */
export const WORKER_MEMORY_MB = 256;

/** The targets queue's visibility timeout (s): longer than the worker's timeout, as Lambda requires. */
export const TARGETS_VISIBILITY_SECONDS = WORKER_TIMEOUT_SECONDS + 30;

/** The fan-out's deployment settings. */
export interface FanOutDeployment {
  deployed: boolean;
  workerMemoryMB: number;
  workerTimeout: number;
  batchSize: number;
  concurrency: number;
  sweepTimeout: number;
}

/** Reads the fan-out's deployment settings from the text of watchdog.yml; a bad value fails with the field. */
export function fanOutDeployment(text: string, source = 'watchdog.yml'): FanOutDeployment {
  const policy = parsePolicyText(text, source, ['fanOut', 'accounts', 'organization']);
  const deployed = fanOutDeployed(policy);
  return {
    deployed,
    workerMemoryMB: WORKER_MEMORY_MB,
    workerTimeout: WORKER_TIMEOUT_SECONDS,
    batchSize: policy.fanOut.batchSize,
    concurrency: policy.fanOut.concurrency,
    sweepTimeout: deployed ? SWEEP_TIMEOUT_SECONDS.fanOut : SWEEP_TIMEOUT_SECONDS.single,
  };
}
