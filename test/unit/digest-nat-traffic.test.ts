/**
 * The digest job (with the SDK-backed cost services) prices each NAT gateway by the hour plus the data it
 * processed over the last 7 days, read from CloudWatch; when CloudWatch cannot be read, the gateway keeps its hourly
 * price, says why, and the digest lists one error for it while the rest is shown as usual.
 */
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeNatGatewaysCommand, DescribeVolumesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { RDSClient } from '@aws-sdk/client-rds';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sdkCostServices } from '../../src/aws/cost-services.js';
import { PriceLookup } from '../../src/aws/pricing.js';
import { renderDigest } from '../../src/core/digest.js';
import { runDigest } from '../../src/jobs/digest.js';
import { NOW, policyWith } from '../support/fleet.js';
import { memorySsm } from '../support/ssm-memory.js';

const GIB = 1024 ** 3;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const ec2 = mockClient(EC2Client);
const cw = mockClient(CloudWatchClient);
const rds = mockClient(RDSClient);
const sagemaker = mockClient(SageMakerClient);
let ssm: ReturnType<typeof memorySsm>;

// 25 minutes past the hour: the window ends at the last full hour (NOW) and starts 7 days before it.
const AT = new Date(NOW.getTime() + 25 * 60_000);

beforeEach(() => {
  ec2.reset();
  cw.reset();
  ec2.onAnyCommand().resolves({});
  rds.reset();
  rds.onAnyCommand().resolves({});
  sagemaker.reset();
  sagemaker.onAnyCommand().resolves({});
  ec2.on(DescribeNatGatewaysCommand).resolves({
    NatGateways: [
      {
        NatGatewayId: 'nat-old',
        State: 'available',
        CreateTime: new Date(NOW.getTime() - 40 * DAY),
        Tags: [{ Key: 'Owner', Value: 'bob' }],
      },
      { NatGatewayId: 'nat-new', State: 'available', CreateTime: new Date(NOW.getTime() - 2 * DAY) },
    ],
  });
  ec2.on(DescribeVolumesCommand).resolves({
    Volumes: [{ VolumeId: 'vol-1', State: 'available', Size: 100, VolumeType: 'gp3' }],
  });
  ssm = memorySsm();
});
afterEach(() => ssm.ssm.restore());

const digest = () =>
  runDigest({
    policy: policyWith({ regions: ['us-east-1'] }),
    now: AT,
    targets: [{ region: 'us-east-1' }],
    services: { ...sdkCostServices({ region: 'us-east-1' }), prices: new PriceLookup() },
  });

describe('the digest and the data NAT gateways processed', () => {
  it('reads both directions of every gateway in one GetMetricData call and prices them per month', async () => {
    // Prepare: 7 GB + 7 GB in 7 days for the old gateway; 2 GB + 1 GB in the 2 days of the new one.
    const hourAgo = new Date(NOW.getTime() - HOUR);
    cw.on(GetMetricDataCommand).resolves({
      MetricDataResults: [
        { Id: 'src0', Timestamps: [new Date(NOW.getTime() - 6 * DAY), hourAgo], Values: [5 * GIB, 2 * GIB] },
        { Id: 'dst0', Timestamps: [hourAgo], Values: [7 * GIB] },
        { Id: 'src1', Timestamps: [hourAgo], Values: [2 * GIB] },
        { Id: 'dst1', Timestamps: [hourAgo], Values: [1 * GIB] },
      ],
    });

    // Act
    const d = await digest();

    // Assess
    expect(cw.commandCalls(GetMetricDataCommand)).toHaveLength(1);
    expect(cw).toHaveReceivedCommandWith(GetMetricDataCommand, {
      StartTime: new Date(NOW.getTime() - 7 * DAY),
      EndTime: NOW,
    });
    expect(d.errors).toEqual([]);
    const nat = Object.fromEntries(
      d.leaks.stopped.items
        .filter((i) => i.what === 'nat-gateway')
        .map((i) => [i.id, [i.usdPerMonth, i.detail]]),
    );
    // 32.85 an hour-month; old: 14 GB / 7 d x 30.4 x 0.045 = 2.736; new: 3 GB / 2 d x 30.4 x 0.045 = 2.052
    expect(nat).toEqual({
      'nat-old': [35.59, '$0.045/h + 14.0 GB processed in the last 7 days (~$2.74/month at $0.045/GB)'],
      'nat-new': [
        34.9,
        '$0.045/h + 3.0 GB processed in the 2 days since it was created (~$2.05/month at $0.045/GB)',
      ],
    });
    expect(renderDigest(d).text).toMatch(/NAT gateways \(2\), \$70\.49\/month:/);
  });

  it('keeps the hourly price and lists one error when CloudWatch cannot be read; the rest is unaffected', async () => {
    // Prepare
    cw.on(GetMetricDataCommand).rejects(
      Object.assign(new Error('User is not authorized to perform: cloudwatch:GetMetricData'), {
        name: 'AccessDenied',
      }),
    );

    // Act
    const d = await digest();

    // Assess
    expect(d.errors).toEqual([
      {
        region: 'us-east-1',
        operation: 'cloudwatch:GetMetricData (data processed by NAT gateways)',
        message: 'AccessDenied: User is not authorized to perform: cloudwatch:GetMetricData',
      },
    ]);
    const nats = d.leaks.stopped.items.filter((i) => i.what === 'nat-gateway');
    expect(nats.map((i) => [i.id, i.usdPerMonth])).toEqual([
      ['nat-new', 32.85],
      ['nat-old', 32.85],
    ]);
    expect(nats[0]?.detail).toBe(
      '$0.045/h; data processed not measured (AccessDenied: User is not authorized to perform: cloudwat...)',
    );
    expect(d.leaks.volumes.map((v) => [v.volumeId, v.usdPerMonth])).toEqual([['vol-1', 8]]);
  });

  it('makes no CloudWatch call when there is no NAT gateway', async () => {
    ec2.on(DescribeNatGatewaysCommand).resolves({ NatGateways: [] });

    const d = await digest();

    expect(cw.commandCalls(GetMetricDataCommand)).toHaveLength(0);
    expect(d.errors).toEqual([]);
  });
});
