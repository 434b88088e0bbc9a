import {
  AddTagsCommand,
  DeleteTagsCommand,
  DescribeNotebookInstanceCommand,
  ListNotebookInstancesCommand,
  ListTagsCommand,
  SageMakerClient,
  StopNotebookInstanceCommand,
} from '@aws-sdk/client-sagemaker';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SageMakerNotebooks } from '../../src/aws/sagemaker.js';
import { TAGS } from '../../src/core/policy.js';

const sagemaker = mockClient(SageMakerClient);
const adapter = () =>
  new SageMakerNotebooks(new SageMakerClient({ region: 'eu-west-1' }), 'eu-west-1', '123456789012');
const arn = (name: string) => `arn:aws:sagemaker:eu-west-1:123456789012:notebook-instance/${name}`;

/** A DescribeNotebookInstance answer. */
function described(name: string, status = 'InService', extra: Record<string, unknown> = {}) {
  return {
    NotebookInstanceName: name,
    NotebookInstanceArn: arn(name),
    NotebookInstanceStatus: status,
    InstanceType: 'ml.t3.medium',
    CreationTime: new Date('2026-11-01T08:00:00Z'),
    LastModifiedTime: new Date('2026-11-25T09:00:00Z'),
    VolumeSizeInGB: 20,
    ...extra,
  } as never;
}

function validation(message: string): Error {
  const err = new Error(message);
  err.name = 'ValidationException';
  return err;
}

describe('SageMakerNotebooks', () => {
  beforeEach(() => {
    sagemaker.reset();
  });

  it('lists InService notebooks across pages with their type, volume, tags and last start', async () => {
    // Prepare
    sagemaker
      .on(ListNotebookInstancesCommand)
      .resolvesOnce({
        NotebookInstances: [
          {
            NotebookInstanceName: 'nb-1',
            NotebookInstanceArn: arn('nb-1'),
            NotebookInstanceStatus: 'InService',
          },
        ],
        NextToken: 'p2',
      } as never)
      .resolvesOnce({
        NotebookInstances: [
          {
            NotebookInstanceName: 'nb-2',
            NotebookInstanceArn: arn('nb-2'),
            NotebookInstanceStatus: 'InService',
          },
        ],
      } as never);
    sagemaker
      .on(DescribeNotebookInstanceCommand, { NotebookInstanceName: 'nb-1' })
      .resolves(described('nb-1'));
    sagemaker
      .on(DescribeNotebookInstanceCommand, { NotebookInstanceName: 'nb-2' })
      .resolves(described('nb-2', 'InService', { InstanceType: 'ml.p3.2xlarge' }));
    sagemaker.on(ListTagsCommand, { ResourceArn: arn('nb-1') }).resolves({
      Tags: [
        { Key: 'Owner', Value: 'alice' },
        { Key: TAGS.lastActivity, Value: '2026-11-25T10:00:00Z' },
        { Key: 'Name', Value: 'week\u202e 3\nnotes' },
      ],
    });
    sagemaker.on(ListTagsCommand, { ResourceArn: arn('nb-2') }).resolves({ Tags: [] });

    // Act
    const notebooks = await adapter().listRunning();

    // Assess
    expect(notebooks).toEqual([
      {
        kind: 'sagemaker-notebook',
        instanceId: 'nb-1',
        region: 'eu-west-1',
        account: '123456789012',
        instanceType: 'ml.t3.medium',
        launchTime: '2026-11-25T09:00:00.000Z',
        tags: { Owner: 'alice', [TAGS.lastActivity]: '2026-11-25T10:00:00Z', Name: 'week? 3 notes' },
        rootDeviceType: 'ebs',
        arn: arn('nb-1'),
        storageGb: 20,
      },
      expect.objectContaining({ instanceId: 'nb-2', instanceType: 'ml.p3.2xlarge', tags: {} }),
    ]);
    expect(sagemaker).toHaveReceivedCommandWith(ListNotebookInstancesCommand, { StatusEquals: 'InService' });
  });

  it('drops a notebook that left InService between the list and the describe', async () => {
    sagemaker.on(ListNotebookInstancesCommand).resolves({
      NotebookInstances: [
        {
          NotebookInstanceName: 'nb-1',
          NotebookInstanceArn: arn('nb-1'),
          NotebookInstanceStatus: 'InService',
        },
      ],
    } as never);
    sagemaker.on(DescribeNotebookInstanceCommand).resolves(described('nb-1', 'Stopping'));
    sagemaker.on(ListTagsCommand).resolves({ Tags: [] });

    expect(await adapter().listRunning()).toEqual([]);
  });

  it('counts the last start from its own stop record when SageMaker says an older time', async () => {
    sagemaker.on(DescribeNotebookInstanceCommand).resolves(described('nb-1'));
    sagemaker
      .on(ListTagsCommand)
      .resolves({ Tags: [{ Key: TAGS.stoppedAt, Value: '2026-11-25T12:00:00.000Z' }] });

    expect((await adapter().getRunning('nb-1'))?.launchTime).toBe('2026-11-25T12:00:00.000Z');
  });

  it('answers null for a notebook SageMaker does not know, or that is not running', async () => {
    sagemaker
      .on(DescribeNotebookInstanceCommand, { NotebookInstanceName: 'gone' })
      .rejects(validation('RecordNotFound'));
    sagemaker
      .on(DescribeNotebookInstanceCommand, { NotebookInstanceName: 'stopped' })
      .resolves(described('stopped', 'Stopped'));
    sagemaker.on(ListTagsCommand).resolves({ Tags: [] });

    expect(await adapter().getRunning('gone')).toBeNull();
    expect(await adapter().getRunning('stopped')).toBeNull();
    expect((await adapter().describeInstance('stopped'))?.state).toBe('stopped');
  });

  it('tags and untags each notebook by its ARN, and one failure leaves the others done', async () => {
    // Prepare
    sagemaker
      .on(DescribeNotebookInstanceCommand, { NotebookInstanceName: 'nb-1' })
      .resolves(described('nb-1'));
    sagemaker
      .on(DescribeNotebookInstanceCommand, { NotebookInstanceName: 'nb-2' })
      .resolves(described('nb-2'));
    sagemaker.on(ListTagsCommand).resolves({ Tags: [] });
    sagemaker.on(AddTagsCommand, { ResourceArn: arn('nb-2') }).rejects(validation('too many tags'));
    sagemaker.on(AddTagsCommand, { ResourceArn: arn('nb-1') }).resolves({});
    sagemaker.on(DeleteTagsCommand).resolves({});
    const a = adapter();

    // Act
    const tagged = await a.tag(['nb-1', 'nb-2'], {
      [TAGS.warnedAt]: '2026-11-25T14:00:00.000Z',
      [TAGS.warnRule]: 'idle',
    });
    const untagged = await a.untag(['nb-1'], [TAGS.warnedAt, TAGS.warnRule]);

    // Assess
    expect(tagged).toEqual([
      { instanceId: 'nb-1', ok: true },
      { instanceId: 'nb-2', ok: false, error: 'ValidationException: too many tags' },
    ]);
    expect(untagged).toEqual([{ instanceId: 'nb-1', ok: true }]);
    expect(sagemaker).toHaveReceivedCommandWith(AddTagsCommand, {
      ResourceArn: arn('nb-1'),
      Tags: [
        { Key: TAGS.warnedAt, Value: '2026-11-25T14:00:00.000Z' },
        { Key: TAGS.warnRule, Value: 'idle' },
      ],
    });
    expect(sagemaker).toHaveReceivedCommandWith(DeleteTagsCommand, {
      ResourceArn: arn('nb-1'),
      TagKeys: [TAGS.warnedAt, TAGS.warnRule],
    });
  });

  it('stops notebooks one by one; one stopped by someone else meanwhile is reported as such', async () => {
    // Prepare
    sagemaker.on(StopNotebookInstanceCommand, { NotebookInstanceName: 'nb-1' }).resolves({});
    sagemaker
      .on(StopNotebookInstanceCommand, { NotebookInstanceName: 'nb-2' })
      .rejects(validation('Status (Stopped) not in ([InService])'));
    sagemaker
      .on(StopNotebookInstanceCommand, { NotebookInstanceName: 'nb-3' })
      .rejects(validation('Status (Pending) not in ([InService])'));
    sagemaker
      .on(DescribeNotebookInstanceCommand, { NotebookInstanceName: 'nb-2' })
      .resolves(described('nb-2', 'Stopped'));
    sagemaker
      .on(DescribeNotebookInstanceCommand, { NotebookInstanceName: 'nb-3' })
      .resolves(described('nb-3', 'Pending'));
    sagemaker.on(ListTagsCommand).resolves({ Tags: [] });

    // Act
    const results = await adapter().stop(['nb-1', 'nb-2', 'nb-3']);

    // Assess
    expect(results).toEqual([
      { instanceId: 'nb-1', ok: true, state: 'stopping' },
      { instanceId: 'nb-2', ok: true, state: 'stopped', previousState: 'stopped' },
      { instanceId: 'nb-3', ok: false, error: 'ValidationException: Status (Pending) not in ([InService])' },
    ]);
  });

  it('has no stop protection and marks only ml.p* / ml.g* types as GPU', async () => {
    const a = adapter();

    expect(await a.isStopProtected()).toBe(false);
    expect(await a.describeTypes(['ml.t3.medium', 'ml.p3.2xlarge', 'ml.g4dn.xlarge'])).toEqual(
      new Map([
        ['ml.t3.medium', { gpu: false }],
        ['ml.p3.2xlarge', { gpu: true }],
        ['ml.g4dn.xlarge', { gpu: true }],
      ]),
    );
  });
});
