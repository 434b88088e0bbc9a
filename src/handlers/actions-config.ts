import { ConfigError } from '../core/errors.js';
import { NAMES } from '../core/policy.js';

/** Settings of the actions function (set by serverless.yml). */
export interface ActionsConfig {
  region: string;
  /** The stack's account: links for any other account are refused. */
  account: string;
  /** Name of the SSM SecureString with the signing key (never its value). */
  keyParameter: string;
  policyFile: string;
}

/** What the sweep needs to put signed links in its warnings; absent when the stack has no actions function. */
export interface LinkSigningConfig {
  actionsUrl: string;
  account: string;
  keyParameter: string;
}

function need(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') {
    throw new ConfigError(`environment variable ${name} is not set; it is set by serverless.yml on deploy`);
  }
  return value.trim();
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

/** Reads the actions function's environment; a missing variable is one error naming it. */
export function loadActionsConfig(env: NodeJS.ProcessEnv): ActionsConfig {
  return {
    region: need(env, 'AWS_REGION'),
    account: accountOfArn(need(env, 'TOPIC_ARN'), 'TOPIC_ARN'),
    keyParameter: keyParameter(env),
    policyFile: env.POLICY_FILE?.trim() || 'watchdog.yml',
  };
}

/**
 * The sweep's link settings: undefined when ACTIONS_URL is not set (the warnings then carry no links);
 * a malformed URL is an error naming the variable.
 */
export function loadLinkSigningConfig(env: NodeJS.ProcessEnv): LinkSigningConfig | undefined {
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
  return {
    actionsUrl: parsed.toString(),
    account: accountOfArn(need(env, 'TOPIC_ARN'), 'TOPIC_ARN'),
    keyParameter: keyParameter(env),
  };
}
