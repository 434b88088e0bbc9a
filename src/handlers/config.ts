import { ConfigError } from '../core/errors.js';

/** Settings every handler reads from its environment (set by serverless.yml). */
export interface HandlerConfig {
  /** Region the function runs in (the home region for "all regions" sweeps). */
  region: string;
  /** ARN of the stack's alert topic. */
  topicArn: string;
  /** Path of the packaged policy file. */
  policyFile: string;
}

/** Reads the handler environment once; a missing variable is one clear error naming it. */
export function loadConfig(env: NodeJS.ProcessEnv): HandlerConfig {
  const need = (name: string): string => {
    const value = env[name];
    if (value === undefined || value.trim() === '') {
      throw new ConfigError(`environment variable ${name} is not set; it is set by serverless.yml on deploy`);
    }
    return value;
  };
  return {
    region: need('AWS_REGION'),
    topicArn: need('TOPIC_ARN'),
    policyFile: env.POLICY_FILE && env.POLICY_FILE !== '' ? env.POLICY_FILE : 'watchdog.yml',
  };
}
