/**
 * The fleets the actions function answers links with: one adapter per region and kind, made on first use and kept
 * for the container's life, and the IAM actions they need (the actions role grants exactly ACTIONS_PERMISSIONS).
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { RDSClient } from '@aws-sdk/client-rds';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import type { ResourceKind } from '../core/names.js';
import type { LinkFleet } from '../jobs/answer-link.js';
import { type AwsTarget, clientConfig } from './clients.js';
import { Ec2Adapter } from './ec2.js';
import { RDS_SWEEP_PERMISSIONS, RdsClusters, RdsInstances } from './rds.js';
import { SageMakerNotebooks } from './sagemaker.js';
import { SIGNING_KEY_READ_PERMISSIONS } from './signing-key.js';

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
  // Every RDS call of the sweep: describe (and the last start from the events), tag, stop.
  ...RDS_SWEEP_PERMISSIONS,
] as const;

/** The fleet of `kind` in `region` (an emulator endpoint of `home` is kept), one per pair, made on first use. */
export function linkFleets(home: AwsTarget): (region: string, kind?: ResourceKind) => LinkFleet {
  const made = new Map<string, LinkFleet>();
  const make = (region: string, kind: ResourceKind): LinkFleet => {
    const config = clientConfig({ ...home, region });
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
  return (region, kind = 'ec2') => {
    let fleet = made.get(`${kind}/${region}`);
    if (!fleet) {
      fleet = make(region, kind);
      made.set(`${kind}/${region}`, fleet);
    }
    return fleet;
  };
}
