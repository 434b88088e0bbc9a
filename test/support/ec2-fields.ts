import type { Instance as Ec2Instance } from '@aws-sdk/client-ec2';

/**
 * The fields of an SDK Instance that Ec2Adapter.toInstance() reads (state and groups: only their name and id), to
 * compare the sweep's own reading of a DescribeInstances answer (src/aws/ec2-pages.ts) with the SDK's.
 */
export function fieldsToInstanceReads(i: Ec2Instance) {
  return {
    InstanceId: i.InstanceId,
    InstanceType: i.InstanceType,
    State: i.State && { Name: i.State.Name },
    LaunchTime: i.LaunchTime,
    Tags: i.Tags,
    InstanceLifecycle: i.InstanceLifecycle,
    RootDeviceType: i.RootDeviceType,
    HibernationOptions: i.HibernationOptions,
    PublicIpAddress: i.PublicIpAddress,
    SecurityGroups: i.SecurityGroups?.map((g) => ({ GroupId: g.GroupId })),
    Operator: i.Operator,
  };
}
