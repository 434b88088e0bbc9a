import { EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { type AwsTarget, clientConfig } from '../../aws/clients.js';
import { AccountDirectory } from '../../aws/provisioning/account.js';
import { IamAdapter } from '../../aws/provisioning/iam.js';
import { ProvisionEc2 } from '../../aws/provisioning/provision-ec2.js';
import { OwnerSubscriptions } from '../../aws/provisioning/sns-subscriptions.js';
import { ParameterStore } from '../../aws/provisioning/ssm.js';

/**
 * The adapters provisioning needs. IAM is global; EC2 and SSM per region; SNS only with an alert topic; the
 * account (id and alias, for the students' sign-in URL) where it can be looked up.
 */
export interface ProvisionServices {
  iam: IamAdapter;
  ec2(region: string): ProvisionEc2;
  ssm(region: string): ParameterStore;
  subscriptions?: OwnerSubscriptions;
  account?: AccountDirectory;
}

/** SDK-backed services for `home` (its endpoint and credentials), one client per region. */
export function sdkProvisionServices(home: AwsTarget, topicArn?: string): ProvisionServices {
  const ec2 = new Map<string, ProvisionEc2>();
  const ssm = new Map<string, ParameterStore>();
  const at = (region: string) => clientConfig({ ...home, region });
  const iam = new IAMClient(at(home.region));
  return {
    iam: new IamAdapter(iam),
    ec2(region) {
      let a = ec2.get(region);
      if (!a) {
        a = new ProvisionEc2(new EC2Client(at(region)), region);
        ec2.set(region, a);
      }
      return a;
    },
    ssm(region) {
      let a = ssm.get(region);
      if (!a) {
        a = new ParameterStore(new SSMClient(at(region)));
        ssm.set(region, a);
      }
      return a;
    },
    account: new AccountDirectory(new STSClient(at(home.region)), iam),
    ...(topicArn
      ? {
          subscriptions: new OwnerSubscriptions(
            new SNSClient(at(topicArn.split(':')[3] || home.region)),
            topicArn,
          ),
        }
      : {}),
  };
}
