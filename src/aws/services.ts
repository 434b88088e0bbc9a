import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { EC2Client } from '@aws-sdk/client-ec2';
import { OrganizationsClient } from '@aws-sdk/client-organizations';
import { RDSClient } from '@aws-sdk/client-rds';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { STSClient } from '@aws-sdk/client-sts';
import { type AwsTarget, clientConfig } from './clients.js';
import type { FleetPort, MetricsPort, RestartPort } from '../core/ports.js';
import { MetricsAdapter } from './cloudwatch.js';
import { Ec2Adapter } from './ec2.js';
import { OrganizationAccounts } from './organizations.js';
import { RdsClusters, RdsInstances } from './rds.js';
import { SageMakerNotebooks } from './sagemaker.js';
import { MemberCredentials } from './sts.js';

/** What a multi-account sweep needs in the home account: STS to assume member roles, Organizations to list them. */
export interface AccountServices {
  credentials: MemberCredentials;
  organization: OrganizationAccounts;
}

/** The EC2 instances of one account x region (the first resource kind), and the account's enabled regions. */
export type Ec2Fleet = FleetPort & { enabledRegions(): Promise<string[]> };

/** The ports a sweep needs for one account x region. Tests and the benchmark pass their own. */
export interface SweepServices {
  ec2(target: AwsTarget): Ec2Fleet;
  /**
   * The other kinds of resource in the target, swept after its EC2 instances: SageMaker notebook instances, RDS
   * DB instances and DB clusters (each FleetPort says its `kind`). Absent = EC2 only.
   */
  fleets?(target: AwsTarget): FleetPort[];
  metrics(target: AwsTarget): MetricsPort;
  /** Starting what quiet hours stopped (morningStart); absent = no morning start. */
  restarts?(target: AwsTarget): RestartPort;
  /** Member-account access (policy `accounts` / `organization`); absent = this account only. */
  accounts?(home: AwsTarget): AccountServices;
}

/**
 * SDK-backed services: one EC2, SageMaker, RDS and CloudWatch client per account x region, created on first use,
 * and STS / Organizations clients in the home account. `clock` is the real time that credential expiry is checked against.
 */
export function sdkSweepServices(clock: () => Date = () => new Date()): SweepServices {
  const ec2 = new Map<string, Ec2Adapter>();
  const cw = new Map<string, MetricsAdapter>();
  const others = new Map<string, FleetPort[]>();
  let accounts: AccountServices | undefined;
  const key = (t: AwsTarget) => `${t.account ?? ''}/${t.region}`;
  const adapter = (target: AwsTarget) => {
    let a = ec2.get(key(target));
    if (!a) {
      a = new Ec2Adapter(new EC2Client(clientConfig(target)), target.region, target.account);
      ec2.set(key(target), a);
    }
    return a;
  };
  return {
    ec2: adapter,
    restarts: adapter,
    fleets(target) {
      let a = others.get(key(target));
      if (!a) {
        const rds = new RDSClient(clientConfig(target));
        a = [
          new SageMakerNotebooks(new SageMakerClient(clientConfig(target)), target.region, target.account),
          new RdsInstances(rds, target.region, target.account),
          new RdsClusters(rds, target.region, target.account),
        ];
        others.set(key(target), a);
      }
      return a;
    },
    metrics(target) {
      let a = cw.get(key(target));
      if (!a) {
        a = new MetricsAdapter(new CloudWatchClient(clientConfig(target)));
        cw.set(key(target), a);
      }
      return a;
    },
    accounts(home) {
      accounts ??= {
        credentials: new MemberCredentials(new STSClient(clientConfig(home)), home.region, clock),
        organization: new OrganizationAccounts(new OrganizationsClient(clientConfig(home))),
      };
      return accounts;
    },
  };
}
