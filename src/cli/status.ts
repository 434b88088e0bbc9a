import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { type AwsTarget, clientConfig } from '../aws/clients.js';
import { StackInspector } from '../aws/stack-status.js';
import { UsageStore } from '../aws/usage-store.js';
import { InputError, PolicyError, printable } from '../core/errors.js';
import { NAMES } from '../core/policy.js';
import { type LocalPolicy, renderStatus } from '../core/status.js';
import { DEFAULT_POLICY_FILE, readPolicyFile } from '../jobs/policy-file.js';
import { stackStatus } from '../jobs/status.js';
import { setAwsAccessCheck } from './aws-access.js';
import type { CommandContext } from './command.js';
import type { Common } from './context.js';

/** The SDK inspector of a region; tests replace it. */
const sdkInspector = (home: AwsTarget): StackInspector => {
  const config = clientConfig(home);
  return new StackInspector({
    cloudformation: new CloudFormationClient(config),
    lambda: new LambdaClient(config),
    sns: new SNSClient(config),
    events: new EventBridgeClient(config),
    logs: new CloudWatchLogsClient(config),
    cloudwatch: new CloudWatchClient(config),
  });
};

let inspectorFor: (home: AwsTarget) => StackInspector = sdkInspector;
/** The month's counters (SSM) for the stack's own bill; none with a test's inspector unless given. */
let usageFor: ((home: AwsTarget) => Pick<UsageStore, 'monthTotals'>) | undefined = (home) =>
  new UsageStore(new SSMClient(clientConfig(home)));

/** For tests: read the stack through this inspector (one on mocked clients skips the credentials check). */
export function setStatusInspector(
  factory: ((home: AwsTarget) => StackInspector) | 'sdk',
  usage?: (home: AwsTarget) => Pick<UsageStore, 'monthTotals'>,
): void {
  inspectorFor = factory === 'sdk' ? sdkInspector : factory;
  usageFor = factory === 'sdk' ? (home) => new UsageStore(new SSMClient(clientConfig(home))) : usage;
  setAwsAccessCheck(factory === 'sdk' ? 'sts' : undefined);
}

/** The local policy file as status compares it: where, its SHA-256 (as serverless-params.cjs packages it), dryRun. */
function localPolicy(common: Common): { local: LocalPolicy; timeZone: string } {
  const path = common.policyPath ?? DEFAULT_POLICY_FILE;
  if (!existsSync(path)) {
    if (common.policyPath !== undefined) {
      return {
        local: {
          source: path,
          sha256: 'none',
          problem: 'not found: pass --policy with the path to your watchdog.yml',
        },
        timeZone: 'UTC',
      };
    }
    return {
      local: {
        source: `no ${DEFAULT_POLICY_FILE} here (the built-in defaults)`,
        sha256: 'none',
        dryRun: false,
      },
      timeZone: 'UTC',
    };
  }
  const source = common.policyPath ?? `./${DEFAULT_POLICY_FILE}`;
  const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex');
  try {
    const policy = readPolicyFile(path);
    return { local: { source, sha256, dryRun: policy.dryRun }, timeZone: policy.timeZone };
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    const problem = `invalid (${err.issues[0] ?? err.message.split('\n')[0]}): fix it (cost-watchdog validate) before the next deploy`;
    return { local: { source, sha256, problem }, timeZone: 'UTC' };
  }
}

/** `status` (commands.ts): one screen about the deployed stack; exit 0 when all is well, 1 when not. */
export async function runStatus({ values, common, io, identity }: CommandContext): Promise<number> {
  const stage = typeof values.stage === 'string' ? values.stage : 'prod';
  if (!/^[a-zA-Z0-9-]{1,64}$/.test(stage)) {
    throw new InputError(
      '--stage',
      `"${printable(stage)}" is not a serverless stage name (letters, digits, -), e.g. prod`,
    );
  }
  if ((common.regions?.length ?? 0) > 1) {
    throw new InputError(
      '--region',
      `status reads one stack: give one region, not ${common.regions?.join(', ')}`,
    );
  }
  const { local, timeZone } = localPolicy(common);
  const status = await stackStatus(inspectorFor(common.home), {
    service: NAMES.service,
    stage,
    region: common.home.region,
    ...(identity ? { account: identity.account } : {}),
    now: common.at ?? new Date(),
    local,
    timeZone,
    ...(usageFor ? { usage: usageFor(common.home) } : {}),
  });
  io.out(common.json ? JSON.stringify(status, null, 2) : renderStatus(status));
  return status.healthy ? 0 : 1;
}
