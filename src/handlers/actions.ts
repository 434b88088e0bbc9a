import { EC2Client } from '@aws-sdk/client-ec2';
import { RDSClient } from '@aws-sdk/client-rds';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SSMClient } from '@aws-sdk/client-ssm';
import { clientConfig } from '../aws/clients.js';
import { Ec2Adapter } from '../aws/ec2.js';
import { RdsClusters, RdsInstances } from '../aws/rds.js';
import { SageMakerNotebooks } from '../aws/sagemaker.js';
import { SIGNING_KEY_READ_PERMISSIONS, SigningKeyStore } from '../aws/signing-key.js';
import { jsonLogger, type Logger } from '../core/log.js';
import type { ResourceKind } from '../core/instance.js';
import {
  answerLinkRequest,
  type FunctionUrlResponse,
  type LinkFleet,
  type LinkRequestDeps,
} from '../jobs/answer-link.js';
import { handlerRuntime, onColdStart } from './runtime.js';

/** IAM actions of the actions function; its role grants exactly these (checked by a template test). */
export const ACTIONS_PERMISSIONS = [
  ...SIGNING_KEY_READ_PERMISSIONS,
  'ec2:DescribeInstances',
  'ec2:DescribeInstanceAttribute',
  'ec2:CreateTags',
  'ec2:DeleteTags',
  'ec2:StopInstances',
  // Links about notebooks and databases: read one, its tags (keep = snooze tag), stop it.
  'sagemaker:DescribeNotebookInstance',
  'sagemaker:ListTags',
  'sagemaker:AddTags',
  'sagemaker:DeleteTags',
  'sagemaker:StopNotebookInstance',
  'rds:DescribeDBInstances',
  'rds:DescribeDBClusters',
  'rds:DescribeEvents',
  'rds:AddTagsToResource',
  'rds:RemoveTagsFromResource',
  'rds:StopDBInstance',
  'rds:StopDBCluster',
] as const;

export { type FunctionUrlEvent, type FunctionUrlResponse, STOP_REASON_LINK } from '../jobs/answer-link.js';

/** What the handler needs from outside; tests inject a clock, the key store, EC2 adapters and a log sink. */
export interface ActionsHandlerDeps {
  clock: () => Date;
  env: NodeJS.ProcessEnv;
  keys?: Pick<SigningKeyStore, 'read'>;
  ec2?: LinkRequestDeps['ec2'];
  log?: Logger;
}

/** Builds the handler of the actions function URL: one answerLinkRequest() per request. */
export function createActionsHandler(
  deps: ActionsHandlerDeps,
): (event: unknown) => Promise<FunctionUrlResponse> {
  const ready = onColdStart((): LinkRequestDeps => {
    const rt = handlerRuntime(deps.env);
    const adapters = new Map<string, LinkFleet>();
    const make = (region: string, kind: ResourceKind): LinkFleet => {
      const config = clientConfig({ ...rt.home, region });
      switch (kind) {
        case 'ec2':
          return new Ec2Adapter(new EC2Client(config), region);
        case 'sagemaker-notebook':
          return new SageMakerNotebooks(new SageMakerClient(config), region);
        case 'rds-instance':
          return new RdsInstances(new RDSClient(config), region);
        case 'rds-cluster':
          return new RdsClusters(new RDSClient(config), region);
      }
    };
    return {
      policy: rt.policy,
      account: rt.account,
      keys:
        deps.keys ?? new SigningKeyStore(new SSMClient(clientConfig(rt.home)), rt.keyParameter, deps.clock),
      ec2:
        deps.ec2 ??
        ((region, kind = 'ec2') => {
          let a = adapters.get(`${kind}/${region}`);
          if (!a) {
            a = make(region, kind);
            adapters.set(`${kind}/${region}`, a);
          }
          return a;
        }),
      log: deps.log ?? jsonLogger,
    };
  });
  return async (event) => answerLinkRequest(event, ready(), deps.clock());
}

/** The Lambda entry point. */
export const handler = createActionsHandler({ clock: () => new Date(), env: process.env });
