/**
 * Keep / stop links about notebooks and databases: the token names the kind (an EC2 link signs the same bytes as
 * before, so links already sent keep working), and the actions function answers them on the right service.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AddTagsToResourceCommand,
  DescribeDBInstancesCommand,
  DescribeEventsCommand,
  RDSClient,
  RemoveTagsFromResourceCommand,
  StopDBInstanceCommand,
} from '@aws-sdk/client-rds';
import {
  AddTagsCommand,
  DeleteTagsCommand,
  DescribeNotebookInstanceCommand,
  ListTagsCommand,
  SageMakerClient,
  StopNotebookInstanceCommand,
} from '@aws-sdk/client-sagemaker';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SigningKeyStore } from '../../src/aws/signing-key.js';
import { buildActionLinks, signLink, verifyLink } from '../../src/core/action-links.js';
import { NAMES, TAGS } from '../../src/core/policy.js';
import { createActionsHandler } from '../../src/handlers/actions.js';
import { signActionLinks } from '../../src/jobs/action-links.js';
import { DEFAULT_POLICY } from '../support/fleet.js';

const sagemaker = mockClient(SageMakerClient);
const rds = mockClient(RDSClient);
const ssm = mockClient(SSMClient);

const KEY = 'test-signing-key-0123456789abcdefghijklmnop';
const ACCOUNT = '123456789012';
const NOW = new Date('2026-03-03T09:40:00Z');
const EXP = Math.floor(NOW.getTime() / 1000) + 24 * 3600;
const WARNED_AT = '2026-03-03T09:00:00.000Z';
const WARNED = Date.parse(WARNED_AT) / 1000;
const NB_ARN = `arn:aws:sagemaker:eu-west-1:${ACCOUNT}:notebook-instance/course-nb`;
const DB_ARN = `arn:aws:rds:eu-west-1:${ACCOUNT}:db:course-db`;
const dir = mkdtempSync(join(tmpdir(), 'cw-kind-links-'));
writeFileSync(join(dir, 'watchdog.yml'), 'timeZone: UTC\n');

const handler = () =>
  createActionsHandler({
    clock: () => NOW,
    env: {
      AWS_REGION: 'us-east-1',
      TOPIC_ARN: `arn:aws:sns:us-east-1:${ACCOUNT}:cost-watchdog-prod-alerts`,
      POLICY_FILE: join(dir, 'watchdog.yml'),
      SIGNING_KEY_PARAMETER: NAMES.signingKeyParameter,
    },
    keys: new SigningKeyStore(new SSMClient({ region: 'us-east-1' }), NAMES.signingKeyParameter, () => NOW),
    log: () => {},
  });

const request = (token: string, method: 'GET' | 'POST') => ({
  version: '2.0',
  rawQueryString: `t=${token}`,
  queryStringParameters: { t: token },
  ...(method === 'POST' ? { body: Buffer.from(`t=${token}`).toString('base64'), isBase64Encoded: true } : {}),
  requestContext: { http: { method } },
});

const claims = (
  kind: 'sagemaker-notebook' | 'rds-instance',
  instanceId: string,
  action: 'keep4h' | 'stop',
) => ({
  instanceId,
  region: 'eu-west-1',
  account: ACCOUNT,
  action,
  warnedAt: WARNED,
  exp: EXP,
  kind,
});

beforeEach(() => {
  sagemaker.reset();
  rds.reset();
  ssm.reset();
  ssm.on(GetParameterCommand).resolves({ Parameter: { Name: NAMES.signingKeyParameter, Value: KEY } });
});

describe('link tokens with a kind', () => {
  it('sign an EC2 link exactly as before (links already sent keep working) and carry the kind of others', () => {
    const ec2 = {
      instanceId: 'i-0abc1234def567890',
      region: 'us-east-1',
      account: ACCOUNT,
      action: 'stop' as const,
      warnedAt: WARNED,
      exp: EXP,
    };

    const token = signLink(ec2, KEY);
    const notebook = signLink(claims('sagemaker-notebook', 'course-nb', 'stop'), KEY);

    // The payload of an EC2 link has no kind field at all: the same bytes as a link signed before kinds existed.
    expect(JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString())).not.toHaveProperty(
      'y',
    );
    expect(verifyLink(token, KEY, NOW)).toMatchObject({ ok: true, claims: { instanceId: ec2.instanceId } });
    expect(verifyLink(token, KEY, NOW)).not.toHaveProperty('claims.kind');
    expect(verifyLink(notebook, KEY, NOW)).toMatchObject({
      ok: true,
      claims: { instanceId: 'course-nb', kind: 'sagemaker-notebook' },
    });
  });

  it('refuses ids that are not of their kind', () => {
    expect(() =>
      signLink(claims('rds-instance', 'i-0abc1234def567890'.replace('i-', '1'), 'stop'), KEY),
    ).toThrow(/instanceId is invalid/);
    expect(() =>
      signLink({ ...claims('sagemaker-notebook', 'course-nb', 'stop'), kind: undefined as never }, KEY),
    ).toThrow(/instanceId is invalid/);
  });

  it('the sweep signs the links of a warned database with its kind', async () => {
    const links = await signActionLinks(
      [
        {
          kind: 'rds-instance',
          instanceId: 'course-db',
          region: 'eu-west-1',
          instanceType: 'db.t3.micro',
          warnedAt: WARNED_AT,
          measured: {},
        } as never,
      ],
      {
        actionsUrl: 'https://x.lambda-url.eu-west-1.on.aws/',
        account: ACCOUNT,
        keys: { readOrCreate: async () => KEY },
        policy: DEFAULT_POLICY,
        now: NOW,
      },
    );

    const token = new URL(links.get('course-db')?.stop ?? 'https://x/').searchParams.get('t') ?? '';
    expect(verifyLink(token, KEY, NOW)).toMatchObject({
      ok: true,
      claims: { kind: 'rds-instance', action: 'stop' },
    });
    const ec2 = buildActionLinks({
      baseUrl: 'https://x/',
      key: KEY,
      instanceId: 'i-0abc1234def567890',
      region: 'eu-west-1',
      account: ACCOUNT,
      warnedAt: WARNED_AT,
      now: NOW,
      timeZone: 'UTC',
      kind: 'ec2',
    });
    const ec2Token = new URL(ec2.stop).searchParams.get('t') ?? '';
    expect(verifyLink(ec2Token, KEY, NOW)).not.toHaveProperty('claims.kind');
  });
});

describe('the actions function answers links about notebooks and databases', () => {
  function givenNotebook(status = 'InService') {
    sagemaker.on(DescribeNotebookInstanceCommand).resolves({
      NotebookInstanceName: 'course-nb',
      NotebookInstanceArn: NB_ARN,
      NotebookInstanceStatus: status,
      InstanceType: 'ml.t3.medium',
      LastModifiedTime: new Date('2026-03-03T06:00:00Z'),
    } as never);
    sagemaker.on(ListTagsCommand).resolves({
      Tags: [
        { Key: 'Owner', Value: 'alice' },
        { Key: TAGS.warnedAt, Value: WARNED_AT },
        { Key: TAGS.warnRule, Value: 'idle' },
      ],
    });
    sagemaker.on(AddTagsCommand).resolves({});
    sagemaker.on(DeleteTagsCommand).resolves({});
    sagemaker.on(StopNotebookInstanceCommand).resolves({});
  }

  it('shows what keeping a notebook means, then keeps it with the snooze tag on the notebook', async () => {
    // Prepare
    givenNotebook();
    const token = signLink(claims('sagemaker-notebook', 'course-nb', 'keep4h'), KEY);
    const fn = handler();

    // Act
    const shown = await fn(request(token, 'GET'));
    const kept = await fn(request(token, 'POST'));

    // Assess
    expect(shown.statusCode).toBe(200);
    expect(shown.body).toContain('Keep course-nb running?');
    expect(shown.body).toContain('notebook ml.t3.medium');
    expect(kept.statusCode).toBe(303);
    expect(sagemaker).toHaveReceivedCommandWith(AddTagsCommand, {
      ResourceArn: NB_ARN,
      Tags: [{ Key: TAGS.exempt, Value: '2026-03-03T13:40:00.000Z' }],
    });
    expect(sagemaker).toHaveReceivedCommandWith(DeleteTagsCommand, {
      ResourceArn: NB_ARN,
      TagKeys: [TAGS.warnedAt, TAGS.warnRule],
    });
    expect(sagemaker).not.toHaveReceivedCommand(StopNotebookInstanceCommand);
  });

  it('says a stopped notebook is not running and where to start it', async () => {
    givenNotebook('Stopped');
    const token = signLink(claims('sagemaker-notebook', 'course-nb', 'stop'), KEY);

    const res = await handler()(request(token, 'POST'));

    expect(res.body).toContain('is not running (stopped)');
    expect(res.body).toContain('the SageMaker console (Notebook instances)');
    expect(sagemaker).not.toHaveReceivedCommand(StopNotebookInstanceCommand);
  });

  it('stops a database through its stop link and records who stopped it', async () => {
    // Prepare
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [
        {
          DBInstanceIdentifier: 'course-db',
          DBInstanceArn: DB_ARN,
          DBInstanceClass: 'db.t3.micro',
          DBInstanceStatus: 'available',
          Engine: 'postgres',
          InstanceCreateTime: new Date('2026-03-01T06:00:00Z'),
          TagList: [
            { Key: TAGS.warnedAt, Value: WARNED_AT },
            { Key: TAGS.warnRule, Value: 'idle' },
          ],
        },
      ],
    });
    rds.on(DescribeEventsCommand).resolves({ Events: [] });
    rds.on(StopDBInstanceCommand).resolves({ DBInstance: { DBInstanceStatus: 'stopping' } });
    rds.on(AddTagsToResourceCommand).resolves({});
    rds.on(RemoveTagsFromResourceCommand).resolves({});
    const token = signLink(claims('rds-instance', 'course-db', 'stop'), KEY);

    // Act
    const res = await handler()(request(token, 'POST'));

    // Assess
    expect(res.statusCode).toBe(303);
    expect(rds).toHaveReceivedCommandWith(StopDBInstanceCommand, { DBInstanceIdentifier: 'course-db' });
    expect(rds).toHaveReceivedCommandWith(AddTagsToResourceCommand, {
      ResourceName: DB_ARN,
      Tags: expect.arrayContaining([{ Key: TAGS.stoppedBy, Value: 'link' }]),
    });
    expect(res.body).toContain('the RDS console (Databases)');
  });
});
