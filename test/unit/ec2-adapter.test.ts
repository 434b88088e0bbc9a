import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeRegionsCommand,
  EC2Client,
  type Instance as Ec2Instance,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { Ec2Adapter } from '../../src/aws/ec2.js';

const ec2 = mockClient(EC2Client);
const adapter = () => new Ec2Adapter(new EC2Client({ region: 'us-east-1' }), 'us-east-1');

const raw = (id: string, extra: Partial<Ec2Instance> = {}): Ec2Instance => ({
  InstanceId: id,
  InstanceType: 't3.micro',
  LaunchTime: new Date('2026-11-25T09:00:00Z'),
  State: { Name: 'running' },
  RootDeviceType: 'ebs',
  Tags: [{ Key: 'Owner', Value: 'alice' }],
  ...extra,
});

describe('Ec2Adapter', () => {
  beforeEach(() => {
    ec2.reset();
  });

  it('lists running instances across pages with the running filter and pages of 1000', async () => {
    // Prepare
    ec2
      .on(DescribeInstancesCommand)
      .resolvesOnce({ Reservations: [{ Instances: [raw('i-1')] }], NextToken: 'p2' })
      .resolvesOnce({ Reservations: [{ Instances: [raw('i-2', { InstanceLifecycle: 'spot' })] }] });

    // Act
    const instances = await adapter().listRunning();

    // Assess
    expect(instances.map((i) => i.instanceId)).toEqual(['i-1', 'i-2']);
    expect(instances[0]).toMatchObject({ launchTime: '2026-11-25T09:00:00.000Z', tags: { Owner: 'alice' } });
    expect(instances[1]?.lifecycle).toBe('spot');
    expect(ec2).toHaveReceivedCommandTimes(DescribeInstancesCommand, 2);
    expect(ec2).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      Filters: [{ Name: 'instance-state-name', Values: ['running'] }],
      MaxResults: 1000,
    });
  });

  it('drops anything that is not running even if the filter let it through', async () => {
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [{ Instances: [raw('i-1'), raw('i-2', { State: { Name: 'stopping' } })] }],
    });

    const instances = await adapter().listRunning();

    expect(instances.map((i) => i.instanceId)).toEqual(['i-1']);
  });

  it('looks up each distinct type once, 100 per call, keeping free-tier eligibility unknown when absent', async () => {
    ec2.on(DescribeInstanceTypesCommand).callsFake((input: { InstanceTypes: string[] }) => ({
      InstanceTypes: input.InstanceTypes.map((t) =>
        t === 'mystery.large'
          ? { InstanceType: t }
          : {
              InstanceType: t,
              FreeTierEligible: t === 't3.micro',
              GpuInfo: t.startsWith('g') ? { Gpus: [{}] } : undefined,
            },
      ),
    }));
    const types = [
      't3.micro',
      't3.micro',
      'g4dn.xlarge',
      'mystery.large',
      ...Array.from({ length: 120 }, (_, i) => `x${i}.large`),
    ];

    const info = await adapter().describeTypes(types);

    expect(ec2).toHaveReceivedCommandTimes(DescribeInstanceTypesCommand, 2);
    expect(info.get('t3.micro')).toMatchObject({ freeTierEligible: true, gpu: false });
    expect(info.get('g4dn.xlarge')).toMatchObject({ freeTierEligible: false, gpu: true });
    expect(info.get('mystery.large')?.freeTierEligible).toBeUndefined();
  });

  it('stops in one call and reports each instance', async () => {
    ec2.on(StopInstancesCommand).resolves({
      StoppingInstances: [{ InstanceId: 'i-1', CurrentState: { Name: 'stopping' } }, { InstanceId: 'i-2' }],
    });

    const results = await adapter().stop(['i-1', 'i-2']);

    expect(results).toEqual([
      { instanceId: 'i-1', ok: true, state: 'stopping' },
      { instanceId: 'i-2', ok: true },
    ]);
    expect(ec2).toHaveReceivedCommandWith(StopInstancesCommand, { InstanceIds: ['i-1', 'i-2'] });
  });

  it('isolates a failing instance so the others still stop', async () => {
    const incorrect = Object.assign(
      new Error('The instance i-2 is not in a state from which it can be stopped.'),
      {
        name: 'IncorrectInstanceState',
      },
    );
    ec2.on(StopInstancesCommand).callsFake((input: { InstanceIds: string[] }) => {
      if (input.InstanceIds.includes('i-2')) throw incorrect;
      return { StoppingInstances: input.InstanceIds.map((InstanceId) => ({ InstanceId })) };
    });

    const results = await adapter().stop(['i-1', 'i-2', 'i-3']);

    expect(results.filter((r) => r.ok).map((r) => r.instanceId)).toEqual(['i-1', 'i-3']);
    expect(results.find((r) => r.instanceId === 'i-2')?.error).toMatch(/^IncorrectInstanceState: /);
  });

  it('reports an instance someone else had already stopped, but not after a retry of a failed batch', async () => {
    ec2.on(StopInstancesCommand).callsFake((input: { InstanceIds: string[] }) => {
      if (input.InstanceIds.length > 1 && input.InstanceIds.includes('i-bad'))
        throw new Error('batch refused');
      if (input.InstanceIds.includes('i-bad')) throw new Error('refused');
      return {
        StoppingInstances: input.InstanceIds.map((InstanceId) => ({
          InstanceId,
          PreviousState: { Name: 'stopped' },
          CurrentState: { Name: 'stopped' },
        })),
      };
    });

    const direct = await adapter().stop(['i-1']);
    const retried = await adapter().stop(['i-2', 'i-bad']);

    expect(direct).toEqual([{ instanceId: 'i-1', ok: true, state: 'stopped', previousState: 'stopped' }]);
    expect(retried[0]).toEqual({ instanceId: 'i-2', ok: true, state: 'stopped' });
    expect(retried[1]).toMatchObject({ instanceId: 'i-bad', ok: false });
  });

  it('asks for hibernation only when told to', async () => {
    ec2.on(StopInstancesCommand).resolves({});

    await adapter().stop(['i-1'], true);

    expect(ec2).toHaveReceivedCommandWith(StopInstancesCommand, { InstanceIds: ['i-1'], Hibernate: true });
  });

  it('stops in batches of 100', async () => {
    ec2.on(StopInstancesCommand).resolves({});

    await adapter().stop(Array.from({ length: 250 }, (_, i) => `i-${i}`));

    expect(ec2).toHaveReceivedCommandTimes(StopInstancesCommand, 3);
  });

  it('tags many instances in one call and untags by key', async () => {
    ec2.on(CreateTagsCommand).resolves({});
    ec2.on(DeleteTagsCommand).resolves({});

    const tagged = await adapter().tag(['i-1', 'i-2'], { 'cost-watchdog:warned-at': 'T' });
    await adapter().untag(['i-1'], ['cost-watchdog:warned-at']);

    expect(tagged.every((r) => r.ok)).toBe(true);
    expect(ec2).toHaveReceivedCommandWith(CreateTagsCommand, {
      Resources: ['i-1', 'i-2'],
      Tags: [{ Key: 'cost-watchdog:warned-at', Value: 'T' }],
    });
    expect(ec2).toHaveReceivedCommandWith(DeleteTagsCommand, {
      Resources: ['i-1'],
      Tags: [{ Key: 'cost-watchdog:warned-at' }],
    });
  });

  it('reads stop protection', async () => {
    ec2.on(DescribeInstanceAttributeCommand).resolves({ DisableApiStop: { Value: true } });

    await expect(adapter().isStopProtected('i-1')).resolves.toBe(true);
    expect(ec2).toHaveReceivedCommandWith(DescribeInstanceAttributeCommand, {
      InstanceId: 'i-1',
      Attribute: 'disableApiStop',
    });
  });

  it('lists enabled regions without those not opted in', async () => {
    ec2.on(DescribeRegionsCommand).resolves({
      Regions: [
        { RegionName: 'us-east-1', OptInStatus: 'opt-in-not-required' },
        { RegionName: 'af-south-1', OptInStatus: 'not-opted-in' },
        { RegionName: 'eu-south-1', OptInStatus: 'opted-in' },
      ],
    });

    await expect(adapter().enabledRegions()).resolves.toEqual(['eu-south-1', 'us-east-1']);
  });
});
