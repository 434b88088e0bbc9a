import type { AwsTarget } from '../aws/clients.js';
import { ConfigError } from '../core/errors.js';
import { NAMES, type Policy } from '../core/policy.js';
import { readPolicyFile } from '../jobs/policy-file.js';

/**
 * What every handler reads from its environment (set by serverless.yml), read once per container by
 * handlerRuntime(). A missing or malformed variable is one ConfigError naming it and the fix.
 */
export interface Runtime {
  /** Region the function runs in (the home region of "all regions" sweeps). */
  region: string;
  /** ARN of the stack's alert topic, and the stack's account taken from it. */
  topicArn: string;
  account: string;
  /** The packaged policy, validated. */
  policy: Policy;
  policyFile: string;
  /** Home account and region; `endpoint` points every client at an emulator (AWS_ENDPOINT_URL). */
  home: AwsTarget;
  /** SSM parameter of the action links' signing key (never its value). */
  keyParameter: string;
  /** The actions function URL (sweep only): warnings carry signed links to it. Absent = no links. */
  actionsUrl?: string;
  /** The alert topic has a KMS key of its own (TOPIC_KEY=true, from --param topicKey=true). */
  topicKey: boolean;
}

function need(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name]?.trim();
  if (value === undefined || value === '') {
    throw new ConfigError(`environment variable ${name} is not set; it is set by serverless.yml on deploy`);
  }
  return value;
}

/** The account id in an ARN such as the alert topic's (arn:aws:sns:us-east-1:123456789012:alerts). */
export function accountOfArn(arn: string, variable: string): string {
  const account = arn.split(':')[4] ?? '';
  if (!/^\d{12}$/.test(account)) {
    throw new ConfigError(
      `environment variable ${variable}="${arn}" is not an ARN with a 12-digit account id`,
    );
  }
  return account;
}

function keyParameter(env: NodeJS.ProcessEnv): string {
  const name = env.SIGNING_KEY_PARAMETER?.trim() || NAMES.signingKeyParameter;
  if (!name.startsWith(NAMES.iamPath)) {
    throw new ConfigError(
      `environment variable SIGNING_KEY_PARAMETER="${name}" must start with ${NAMES.iamPath}`,
    );
  }
  return name;
}

function actionsUrl(env: NodeJS.ProcessEnv): string | undefined {
  const url = env.ACTIONS_URL?.trim();
  if (!url) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`environment variable ACTIONS_URL="${url}" is not a URL; serverless.yml sets it`);
  }
  if (parsed.protocol !== 'https:' && parsed.hostname !== '127.0.0.1' && parsed.hostname !== 'localhost') {
    throw new ConfigError(`environment variable ACTIONS_URL="${url}" must be an https:// URL`);
  }
  return parsed.toString();
}

/** Reads and checks a handler's environment and its policy file. */
export function handlerRuntime(env: NodeJS.ProcessEnv): Runtime {
  const region = need(env, 'AWS_REGION');
  const topicArn = need(env, 'TOPIC_ARN');
  const policyFile = env.POLICY_FILE?.trim() || 'watchdog.yml';
  const endpoint = env.AWS_ENDPOINT_URL?.trim();
  const url = actionsUrl(env);
  return {
    region,
    topicArn,
    account: accountOfArn(topicArn, 'TOPIC_ARN'),
    policy: readPolicyFile(policyFile),
    policyFile,
    home: { region, ...(endpoint ? { endpoint } : {}) },
    keyParameter: keyParameter(env),
    topicKey: env.TOPIC_KEY?.trim() === 'true',
    ...(url ? { actionsUrl: url } : {}),
  };
}

/** Builds a handler's runtime and clients on the first invocation (the cold start) and keeps them. */
export function onColdStart<T>(build: () => T): () => T {
  let built: { value: T } | undefined;
  return () => {
    built ??= { value: build() };
    return built.value;
  };
}
