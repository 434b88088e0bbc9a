/**
 * One smoke test per AWS client against the moto server, plus the emulator behaviours the handlers rely on
 * (or must not rely on). When a moto upgrade changes one of these, this file says so first.
 */
import {
  type CloudWatchClient,
  GetMetricDataCommand,
  PutMetricDataCommand,
} from '@aws-sdk/client-cloudwatch';
import {
  CreateKeyPairCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeKeyPairsCommand,
  DescribeRegionsCommand,
  type EC2Client,
  ModifyInstanceAttributeCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { CreateUserCommand, GetUserCommand } from '@aws-sdk/client-iam';
import { PublishCommand } from '@aws-sdk/client-sns';
import { GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { beforeEach, describe, expect, it } from 'vitest';
import { metricDataOf } from '../../src/aws/cloudwatch.js';
import { Ec2Adapter } from '../../src/aws/ec2.js';
import { instancesOfPage, withoutUnreadParts } from '../../src/aws/ec2-pages.js';
import { readRawAnswer } from '../../src/aws/raw-answer.js';
import { clientConfig } from '../../src/aws/clients.js';
import { fieldsToInstanceReads } from '../support/ec2-fields.js';
import {
  clients,
  createTopic,
  EMULATOR_ACCOUNT,
  endpoint,
  putMetrics,
  resetEmulator,
  seedInstances,
  sentMessages,
  target,
} from './support.js';

const REGION = 'us-east-1';

async function stateOf(ec2: EC2Client, instanceId: string): Promise<string | undefined> {
  const res = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return res.Reservations?.[0]?.Instances?.[0]?.State?.Name;
}

beforeEach(async () => {
  await resetEmulator();
});

/** GetMetricData queries m0, m1, ... for AWS/EC2 metrics of one instance at the 5-minute period. */
function queriesOf(instanceId: string, names: string[], stat: (name: string) => string) {
  return names.map((name, i) => ({
    Id: `m${i}`,
    MetricStat: {
      Metric: {
        Namespace: 'AWS/EC2',
        MetricName: name,
        Dimensions: [{ Name: 'InstanceId', Value: instanceId }],
      },
      Period: 300,
      Stat: stat(name),
    },
  }));
}

describe('emulator wiring', () => {
  it('points SDK clients created without an endpoint at the local emulator with dummy credentials', async () => {
    // Prepare: a client as a handler would build it, from the environment only
    const sts = new STSClient({});

    // Act
    const who = await sts.send(new GetCallerIdentityCommand({}));

    // Assess
    expect(process.env.AWS_ENDPOINT_URL).toBe(endpoint());
    expect(endpoint()).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(who.Account).toBe(EMULATOR_ACCOUNT);
  });
});

describe('EC2', () => {
  it('launches tagged instances that DescribeInstances finds by tag, running', async () => {
    // Prepare
    const { ec2 } = clients(REGION);
    const [alice] = await seedInstances(REGION, { type: 't3.micro', tags: { Owner: 'alice', Name: 'nb' } });
    await seedInstances(REGION, { type: 'g4dn.xlarge', tags: { Owner: 'bob' }, count: 2 });

    // Act
    const res = await ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: 'tag:Owner', Values: ['alice'] },
          { Name: 'instance-state-name', Values: ['running'] },
        ],
      }),
    );

    // Assess
    const found = res.Reservations?.flatMap((r) => r.Instances ?? []) ?? [];
    expect(found.map((i) => [i.InstanceId, i.InstanceType, i.State?.Name])).toEqual([
      [alice, 't3.micro', 'running'],
    ]);
    expect(found[0]?.Tags).toEqual(expect.arrayContaining([{ Key: 'Name', Value: 'nb' }]));
    expect(found[0]?.LaunchTime).toBeInstanceOf(Date);
  });

  it('reports FreeTierEligible per type as the post-2025-07 free plan (t2.micro is not free)', async () => {
    // Prepare
    const { ec2 } = clients(REGION);
    const types = [
      't2.micro',
      't3.micro',
      't3.large',
      't4g.small',
      'c7i-flex.large',
      'm7i-flex.large',
    ] as const;

    // Act
    const res = await ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: [...types] }));

    // Assess
    const eligible = Object.fromEntries(
      (res.InstanceTypes ?? []).map((t) => [t.InstanceType, t.FreeTierEligible]),
    );
    expect(eligible).toEqual({
      't2.micro': false,
      't3.micro': true,
      't3.large': false,
      't4g.small': true,
      'c7i-flex.large': true,
      'm7i-flex.large': true,
    });
  });

  it('reads and sets stop protection (disableApiStop), and StopInstances refuses a protected instance', async () => {
    // Prepare
    const { ec2 } = clients(REGION);
    const [id] = await seedInstances(REGION, {});
    const before = await ec2.send(
      new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: 'disableApiStop' }),
    );
    await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, DisableApiStop: { Value: true } }));

    // Act
    const after = await ec2.send(
      new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: 'disableApiStop' }),
    );
    const stop = ec2.send(new StopInstancesCommand({ InstanceIds: [id!] }));

    // Assess
    expect(before.DisableApiStop?.Value).toBe(false);
    expect(after.DisableApiStop?.Value).toBe(true);
    await expect(stop).rejects.toMatchObject({ name: 'OperationNotPermitted' });
    expect(await stateOf(ec2, id!)).toBe('running');
  });

  it('honours DisableApiStop given at launch', async () => {
    // Prepare
    const { ec2 } = clients(REGION);
    const [id] = await seedInstances(REGION, { stopProtected: true });

    // Act
    const attr = await ec2.send(
      new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: 'disableApiStop' }),
    );

    // Assess
    expect(attr.DisableApiStop?.Value).toBe(true);
  });

  it('stops a running instance (Hibernate accepted) and answers a repeated stop without error', async () => {
    // Prepare
    const { ec2 } = clients(REGION);
    const [id] = await seedInstances(REGION, { hibernate: true });

    // Act
    const first = await ec2.send(new StopInstancesCommand({ InstanceIds: [id!], Hibernate: true }));
    const again = await ec2.send(new StopInstancesCommand({ InstanceIds: [id!] }));

    // Assess
    expect(first.StoppingInstances?.[0]?.PreviousState?.Name).toBe('running');
    expect(again.StoppingInstances?.[0]?.PreviousState?.Name).toBe('stopped');
    expect(await stateOf(ec2, id!)).toBe('stopped');
  });

  it('rejects StopInstances for an unknown instance id with InvalidInstanceID.NotFound', async () => {
    // Prepare
    const { ec2 } = clients(REGION);

    // Act
    const stop = ec2.send(new StopInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] }));

    // Assess
    await expect(stop).rejects.toMatchObject({ name: 'InvalidInstanceID.NotFound' });
  });

  it('creates an ed25519 key pair and returns the private key in OpenSSH format', async () => {
    // Prepare
    const { ec2 } = clients(REGION);

    // Act
    const key = await ec2.send(new CreateKeyPairCommand({ KeyName: 'alice', KeyType: 'ed25519' }));
    const listed = await ec2.send(new DescribeKeyPairsCommand({ KeyNames: ['alice'] }));

    // Assess
    expect(key.KeyMaterial).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
    expect(listed.KeyPairs?.map((k) => k.KeyName)).toEqual(['alice']);
  });

  it('lists regions with their opt-in status (moto lists not-opted-in regions too, whatever the filter)', async () => {
    // Prepare
    const { ec2 } = clients(REGION);

    // Act
    const all = await ec2.send(new DescribeRegionsCommand({}));
    const enabledOnly = await ec2.send(
      new DescribeRegionsCommand({
        Filters: [{ Name: 'opt-in-status', Values: ['opt-in-not-required', 'opted-in'] }],
      }),
    );
    const named = await ec2.send(new DescribeRegionsCommand({ RegionNames: ['eu-west-1'] }));

    // Assess
    const names = all.Regions?.map((r) => r.RegionName) ?? [];
    expect(names).toEqual(expect.arrayContaining(['us-east-1', 'us-west-2', 'eu-west-1']));
    expect(new Set(all.Regions?.map((r) => r.OptInStatus))).toEqual(
      new Set(['opt-in-not-required', 'not-opted-in']),
    );
    expect(enabledOnly.Regions?.length).toBe(all.Regions?.length);
    expect(named.Regions?.map((r) => r.RegionName)).toEqual(['eu-west-1']);
  });
});

describe('CloudWatch (AWS JSON 1.0 protocol)', () => {
  it('returns the 5-minute points written with PutMetricData through GetMetricData', async () => {
    // Prepare
    const { cloudwatch } = clients(REGION);
    const to = new Date(Math.floor(Date.now() / 300_000) * 300_000);
    const from = new Date(to.getTime() - 2 * 3600_000);
    const written = await putMetrics(
      REGION,
      'i-0abc',
      { cpu: (_at, i) => i % 3, networkIn: 1000, networkOut: 500 },
      from,
      to,
    );

    // Act
    const res = await cloudwatch.send(
      new GetMetricDataCommand({
        StartTime: from,
        // EndTime is exclusive (and moto truncates it to whole seconds): one step past the last point
        EndTime: new Date(to.getTime() + 300_000),
        ScanBy: 'TimestampAscending',
        MetricDataQueries: queriesOf('i-0abc', ['CPUUtilization', 'NetworkIn'], (name) =>
          name === 'CPUUtilization' ? 'Average' : 'Sum',
        ),
      }),
    );

    // Assess
    const [cpu, netIn] = res.MetricDataResults ?? [];
    expect(written).toBe(25);
    expect(cpu?.Values).toHaveLength(25);
    expect(cpu?.Values?.slice(0, 4)).toEqual([0, 1, 2, 0]);
    expect(cpu?.Timestamps?.[0]?.getTime()).toBe(from.getTime());
    expect(netIn?.Values?.every((v) => v === 1000)).toBe(true);
  });

  it('accepts 1000 datums in one PutMetricData call', async () => {
    // Prepare
    const { cloudwatch } = clients(REGION);
    const now = Date.now();
    const datums = Array.from({ length: 1000 }, (_, i) => ({
      MetricName: 'CPUUtilization',
      Dimensions: [{ Name: 'InstanceId', Value: 'i-0big' }],
      Timestamp: new Date(now - (i + 1) * 300_000),
      Value: 1,
    }));

    // Act
    const put = cloudwatch.send(new PutMetricDataCommand({ Namespace: 'AWS/EC2', MetricData: datums }));

    // Assess
    await expect(put).resolves.toMatchObject({ $metadata: { httpStatusCode: 200 } });
  });
});

/** The raw body of every 200 answer `client` gets from now on, as it came. */
function rawAnswers(client: EC2Client | CloudWatchClient): string[] {
  const bodies: string[] = [];
  (client as EC2Client).middlewareStack.add(
    readRawAnswer((text) => {
      bodies.push(text);
      return undefined;
    }),
    { step: 'deserialize', priority: 'low', name: 'testRawAnswers' },
  );
  return bodies;
}

describe("The sweep's own readers of the two big answers (src/aws/raw-answer.ts)", () => {
  it("read moto's DescribeInstances answer as the SDK does, without leaving it to the SDK", async () => {
    // Prepare: two reservations; tags with markup and non-ASCII text, a spot and a hibernating instance
    await seedInstances(
      REGION,
      { tags: { Owner: 'ann', Name: 'a & <b> "c" Grüße 🚀' }, count: 2 },
      { tags: { Owner: 'bob' }, spot: true },
      { hibernate: true },
    );
    const { ec2 } = clients(REGION);
    const raw = rawAnswers(ec2);

    // Act
    const bySdk = await ec2.send(new DescribeInstancesCommand({}));
    const ours = instancesOfPage(withoutUnreadParts(raw[0] as string));
    const paged = await new Ec2Adapter(ec2, REGION).listRunning();

    // Assess: the fields the adapter reads, equal; and the adapter's pages equal to its one-by-one reading
    const sdkInstances = (bySdk.Reservations ?? []).flatMap((r) => r.Instances ?? []);
    expect(ours).toHaveLength(4);
    expect(ours.map(fieldsToInstanceReads)).toEqual(sdkInstances.map(fieldsToInstanceReads));
    expect(ours.find((i) => i.InstanceLifecycle === 'spot')?.Tags).toEqual([{ Key: 'Owner', Value: 'bob' }]);
    expect(ours.filter((i) => i.HibernationOptions?.Configured === true)).toHaveLength(1);
    const adapter = new Ec2Adapter(ec2, REGION);
    expect(paged).toEqual(await Promise.all(paged.map((i) => adapter.getRunning(i.instanceId))));
    expect(paged.find((i) => i.tags.Owner === 'ann')?.tags.Name).toBe('a & <b> "c" Grüße 🚀');
  });

  it("read moto's GetMetricData answer as the SDK does", async () => {
    // Prepare
    const { cloudwatch } = clients(REGION);
    const to = new Date(Math.floor(Date.now() / 300_000) * 300_000);
    const from = new Date(to.getTime() - 3600_000);
    await putMetrics(
      REGION,
      'i-0abc',
      { cpu: (_at, i) => i / 4, networkIn: 1000, networkOut: 500 },
      from,
      to,
    );
    const raw = rawAnswers(cloudwatch);

    // Act
    const bySdk = await cloudwatch.send(
      new GetMetricDataCommand({
        StartTime: from,
        EndTime: new Date(to.getTime() + 300_000),
        MetricDataQueries: queriesOf(
          'i-0abc',
          ['CPUUtilization', 'NetworkIn', 'NetworkOut'],
          () => 'Average',
        ),
      }),
    );
    const ours = metricDataOf(raw[0] as string);

    // Assess
    expect(ours?.series).toEqual(
      (bySdk.MetricDataResults ?? []).map((r) => ({
        id: r.Id,
        at: (r.Timestamps ?? []).map((t) => t.getTime()),
        values: r.Values,
      })),
    );
    expect(ours?.series[0]?.values).toHaveLength(13);
  });
});

describe('SNS', () => {
  it('records a published JSON-structured message with its attributes where sentMessages() reads it', async () => {
    // Prepare
    const { sns } = clients(REGION);
    const topicArn = await createTopic(REGION);
    const body = { default: 'instance i-1 stopped', email: 'Instance i-1 was stopped: idle 2 h' };

    // Act
    const res = await sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        Subject: 'cost-watchdog: 1 instance stopped',
        MessageStructure: 'json',
        Message: JSON.stringify(body),
        MessageAttributes: {
          audience: { DataType: 'String', StringValue: 'admin' },
          owner: { DataType: 'String', StringValue: 'alice' },
        },
      }),
    );

    // Assess
    const sent = await sentMessages();
    expect(sent).toEqual([
      {
        topicArn,
        region: REGION,
        messageId: res.MessageId,
        message: JSON.stringify(body),
        subject: 'cost-watchdog: 1 instance stopped',
        attributes: { audience: 'admin', owner: 'alice' },
      },
    ]);
  });

  it('keeps topics of different regions apart', async () => {
    // Prepare
    const east = await createTopic('us-east-1');
    const west = await createTopic('eu-west-1');

    // Act
    await clients('eu-west-1').sns.send(new PublishCommand({ TopicArn: west, Message: 'hello west' }));

    // Assess
    expect(await sentMessages(east)).toEqual([]);
    expect((await sentMessages()).map((m) => [m.region, m.message, m.subject])).toEqual([
      ['eu-west-1', 'hello west', undefined],
    ]);
  });
});

describe('IAM', () => {
  it('creates a user under the cost-watchdog path', async () => {
    // Prepare
    const { iam } = clients(REGION);

    // Act
    await iam.send(new CreateUserCommand({ UserName: 'alice', Path: '/cost-watchdog/' }));
    const user = await iam.send(new GetUserCommand({ UserName: 'alice' }));

    // Assess
    expect(user.User?.Path).toBe('/cost-watchdog/');
    expect(user.User?.Arn).toBe(`arn:aws:iam::${EMULATOR_ACCOUNT}:user/cost-watchdog/alice`);
  });
});

describe('SSM', () => {
  it('stores a SecureString and returns the plain value only WithDecryption', async () => {
    // Prepare
    const { ssm } = clients(REGION);
    await ssm.send(
      new PutParameterCommand({
        Name: '/cost-watchdog/keys/alice',
        Type: 'SecureString',
        Value: 'PRIVATE KEY',
      }),
    );

    // Act
    const encrypted = await ssm.send(new GetParameterCommand({ Name: '/cost-watchdog/keys/alice' }));
    const decrypted = await ssm.send(
      new GetParameterCommand({ Name: '/cost-watchdog/keys/alice', WithDecryption: true }),
    );

    // Assess
    expect(encrypted.Parameter?.Type).toBe('SecureString');
    expect(encrypted.Parameter?.Value).not.toBe('PRIVATE KEY');
    expect(decrypted.Parameter?.Value).toBe('PRIVATE KEY');
  });

  it('serves the Amazon Linux 2023 public parameter with an AMI that EC2 knows', async () => {
    // Prepare
    const { ssm, ec2 } = clients(REGION);

    // Act
    const param = await ssm.send(
      new GetParameterCommand({
        Name: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
      }),
    );
    const [id] = await seedInstances(REGION, { imageId: param.Parameter?.Value ?? 'missing' });

    // Assess
    expect(param.Parameter?.Value).toMatch(/^ami-[0-9a-f]+$/);
    const res = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id!] }));
    expect(res.Reservations?.[0]?.Instances?.[0]?.ImageId).toBe(param.Parameter?.Value);
  });
});

describe('STS', () => {
  it('names the caller and assumes a role in another account whose credentials act there', async () => {
    // Prepare
    const { sts } = clients(REGION);
    const roleArn = 'arn:aws:iam::111122223333:role/cost-watchdog-member';

    // Act
    const me = await sts.send(new GetCallerIdentityCommand({}));
    const assumed = await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'sweep' }));
    const creds = assumed.Credentials;
    const memberSts = new STSClient(
      clientConfig({
        ...target(REGION),
        credentials: {
          accessKeyId: creds?.AccessKeyId ?? '',
          secretAccessKey: creds?.SecretAccessKey ?? '',
          sessionToken: creds?.SessionToken ?? '',
        },
      }),
    );
    const member = await memberSts.send(new GetCallerIdentityCommand({}));

    // Assess
    expect(me.Account).toBe(EMULATOR_ACCOUNT);
    expect(assumed.AssumedRoleUser?.Arn).toBe(
      'arn:aws:sts::111122223333:assumed-role/cost-watchdog-member/sweep',
    );
    expect(member.Account).toBe('111122223333');
  });
});
