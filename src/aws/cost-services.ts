import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { EC2Client } from '@aws-sdk/client-ec2';
import { PricingClient } from '@aws-sdk/client-pricing';
import { RDSClient } from '@aws-sdk/client-rds';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { ResourceKind } from '../core/instance.js';
import type { FleetPort } from '../core/ports.js';
import { type AwsTarget, clientConfig } from './clients.js';
import { Ec2Adapter } from './ec2.js';
import { Ec2CostsAdapter } from './ec2-costs.js';
import { NatTrafficAdapter } from './nat-traffic.js';
import { PRICING_REGION, PriceLookup } from './pricing.js';
import { RdsClusters, RdsInstances } from './rds.js';
import { SageMakerNotebooks } from './sagemaker.js';
import { UsageStore } from './usage-store.js';

/** What the launch guard, the digest and the usage recorder need. Tests pass their own. */
export interface CostServices {
  ec2(target: AwsTarget): Ec2Adapter;
  costs(target: AwsTarget): Ec2CostsAdapter;
  /** Stopped notebooks and databases (what their storage still costs); absent = not looked at. */
  stopped?(target: AwsTarget): StoppedKinds;
  /** The data NAT gateways processed (CloudWatch); absent = not measured (priced by the hour only). */
  natTraffic?(target: AwsTarget): Pick<NatTrafficAdapter, 'processed'>;
  /** The notebooks or databases of a target (the launch guard checks one that started); absent = EC2 only. */
  fleet?(target: AwsTarget, kind: Exclude<ResourceKind, 'ec2'>): FleetPort;
  /** Prices, cached for the life of this object (one run). */
  prices: PriceLookup;
  /** The watchdog's month counters (SSM parameters), in the home region. */
  usage: Pick<UsageStore, 'monthTotals' | 'recordSaved' | 'recordSweep' | 'monthEstimateUsd'>;
}

/** The notebooks and databases of one account x region, as far as their stopped ones go. */
export interface StoppedKinds {
  notebooks: Pick<SageMakerNotebooks, 'listStopped'>;
  databases: Pick<RdsInstances, 'listStopped'>;
  clusters: Pick<RdsClusters, 'listStopped'>;
}

/**
 * SDK-backed cost services: EC2 clients per account x region (created on first use), the Price List API in
 * us-east-1 (two attempts only: when it is unreachable the bundled table answers), CloudWatch per target for
 * what NAT gateways processed, SSM in `home`.
 */
export function sdkCostServices(home: AwsTarget): CostServices {
  const ec2Clients = new Map<string, EC2Client>();
  const key = (t: AwsTarget) => `${t.account ?? ''}/${t.region}`;
  const ec2Client = (t: AwsTarget) => {
    let c = ec2Clients.get(key(t));
    if (!c) {
      c = new EC2Client(clientConfig(t));
      ec2Clients.set(key(t), c);
    }
    return c;
  };
  const pricing = new PricingClient({ ...clientConfig({ ...home, region: PRICING_REGION }), maxAttempts: 2 });
  return {
    ec2: (t) => new Ec2Adapter(ec2Client(t), t.region, t.account),
    costs: (t) => new Ec2CostsAdapter(ec2Client(t), t.region),
    natTraffic: (t) => new NatTrafficAdapter(new CloudWatchClient(clientConfig(t))),
    stopped: (t) => {
      const rds = new RDSClient(clientConfig(t));
      return {
        notebooks: new SageMakerNotebooks(new SageMakerClient(clientConfig(t)), t.region, t.account),
        databases: new RdsInstances(rds, t.region, t.account),
        clusters: new RdsClusters(rds, t.region, t.account),
      };
    },
    fleet: (t, kind) =>
      kind === 'sagemaker-notebook'
        ? new SageMakerNotebooks(new SageMakerClient(clientConfig(t)), t.region, t.account)
        : kind === 'rds-instance'
          ? new RdsInstances(new RDSClient(clientConfig(t)), t.region, t.account)
          : new RdsClusters(new RDSClient(clientConfig(t)), t.region, t.account),
    prices: new PriceLookup(pricing),
    usage: new UsageStore(new SSMClient(clientConfig(home))),
  };
}
