import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { EC2Client } from '@aws-sdk/client-ec2';
import { type AwsTarget, clientConfig } from './clients.js';
import { MetricsAdapter } from './cloudwatch.js';
import { Ec2Adapter } from './ec2.js';

/** The adapters a sweep needs for one account x region. Tests and the benchmark pass their own. */
export interface SweepServices {
  ec2(target: AwsTarget): Ec2Adapter;
  metrics(target: AwsTarget): MetricsAdapter;
}

/** SDK-backed services: one EC2 and one CloudWatch client per account x region, created on first use. */
export function sdkSweepServices(): SweepServices {
  const ec2 = new Map<string, Ec2Adapter>();
  const cw = new Map<string, MetricsAdapter>();
  const key = (t: AwsTarget) => `${t.account ?? ''}/${t.region}`;
  return {
    ec2(target) {
      let a = ec2.get(key(target));
      if (!a) {
        a = new Ec2Adapter(new EC2Client(clientConfig(target)), target.region, target.account);
        ec2.set(key(target), a);
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
  };
}
