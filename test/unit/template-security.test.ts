/**
 * Security review of the packaged stack (`serverless package`, offline): least privilege, no terminate, IAM
 * only under /cost-watchdog/, an encrypted topic that alarms can still publish to, bounded logs, alarms on every
 * function and secrets only as SecureString.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { NAMES } from '../../src/core/policy.js';
import { actionsOf, packagedTemplate, type Template } from '../support/packaged-template.js';

type Statement = Record<string, unknown>;

/**
 * Actions that AWS authorises only on Resource "*" (no resource-level permissions), with why each is used.
 * A statement with Resource "*" may contain nothing else.
 */
const RESOURCE_STAR_ONLY: Record<string, string> = {
  'ec2:Describe*':
    'EC2 Describe calls list and read; they take no resource ARN (sweep, launch guard, digest)',
  'cloudwatch:GetMetricData': 'metric reads take no resource ARN (sweep, digest)',
  'cloudwatch:GetMetricStatistics':
    'metric reads take no resource ARN (sweep: the free API for small fleets)',
  'cloudwatch:ListMetrics': 'metric listing takes no resource ARN (digest)',
  'cloudwatch:PutMetricData': 'takes no resource ARN; narrowed by a cloudwatch:namespace condition instead',
  'pricing:GetProducts': 'the Price List API has no resources (launch guard, digest)',
  'sagemaker:ListNotebookInstances': 'lists notebook instances; no resource ARN (sweep)',
  'rds:DescribeEvents': 'the start events of databases; events have no resource ARN (sweep)',
  'ec2:CreateDefaultVpc': 'creates the default VPC, which has no ARN before it exists (provision)',
  'iam:ListAccountAliases':
    "reads the account alias of the students' sign-in URL; no resource ARN (provision)",
};

function allowed(action: string): boolean {
  return Object.keys(RESOURCE_STAR_ONLY).some((pattern) =>
    pattern.endsWith('*') ? action.startsWith(pattern.slice(0, -1)) : action === pattern,
  );
}

/** Every identity-policy statement in the template, with where it comes from. */
function identityStatements(template: Template): { where: string; statement: Statement }[] {
  const out: { where: string; statement: Statement }[] = [];
  for (const [id, r] of Object.entries(template.Resources)) {
    const p = r.Properties ?? {};
    const docs: unknown[] = [];
    if (r.Type === 'AWS::IAM::Role') {
      for (const policy of (p.Policies ?? []) as { PolicyDocument: unknown }[])
        docs.push(policy.PolicyDocument);
    } else if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') {
      docs.push(p.PolicyDocument);
    }
    for (const doc of docs) {
      const statements = (doc as { Statement: Statement | Statement[] }).Statement;
      for (const s of Array.isArray(statements) ? statements : [statements])
        out.push({ where: id, statement: s });
    }
  }
  return out;
}

const resourcesOf = (s: Statement): unknown[] => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]);
const ofType = (template: Template, type: string) =>
  Object.entries(template.Resources).filter(([, r]) => r.Type === type);

let template: Template;

beforeAll(() => {
  template = packagedTemplate();
}, 300_000);

describe('the packaged stack', () => {
  it('grants no wildcard action in any IAM policy', () => {
    const wild = identityStatements(template).flatMap(({ where, statement }) =>
      actionsOf(statement)
        .filter((a) => a === '*' || a.endsWith(':*'))
        .map((a) => `${where}: ${a}`),
    );

    expect(wild).toEqual([]);
  });

  it('allows Resource "*" only for actions that have no resource-level permissions', () => {
    const tooBroad = identityStatements(template)
      .filter(({ statement }) => statement.Effect === 'Allow' && resourcesOf(statement).includes('*'))
      .flatMap(({ where, statement }) =>
        actionsOf(statement)
          .filter((a) => !allowed(a))
          .map((a) => `${where}: ${a}`),
      );

    expect(tooBroad).toEqual([]);
  });

  it('never mentions ec2:TerminateInstances, not even in a Deny', () => {
    expect(JSON.stringify(template), 'never terminate').not.toMatch(/TerminateInstances/i);
  });

  it('gives every role the /cost-watchdog/ path', () => {
    const roles = ofType(template, 'AWS::IAM::Role');

    expect(roles.length).toBeGreaterThan(0);
    for (const [id, role] of roles) expect(role.Properties?.Path, id).toBe(NAMES.iamPath);
  });

  it('lets the functions change IAM users, groups and roles only under /cost-watchdog/', () => {
    const outside = identityStatements(template)
      .filter(({ statement }) => statement.Effect === 'Allow')
      .flatMap(({ where, statement }) => {
        const writes = actionsOf(statement).filter(
          (a) => (a.startsWith('iam:') || a === 'sts:AssumeRole') && !/^iam:(Get|List)/.test(a),
        );
        if (writes.length === 0) return [];
        const bad = resourcesOf(statement).filter((r) => !JSON.stringify(r).includes(NAMES.iamPath));
        return bad.map((r) => `${where}: ${writes.join(',')} on ${JSON.stringify(r)}`);
      });

    expect(outside).toEqual([]);
  });

  it('lets the functions write SSM parameters only under /cost-watchdog/', () => {
    const outside = identityStatements(template)
      .filter(({ statement }) => statement.Effect === 'Allow')
      .flatMap(({ where, statement }) => {
        const writes = actionsOf(statement).filter((a) => /^ssm:(Put|Delete|AddTags)/.test(a));
        if (writes.length === 0) return [];
        return resourcesOf(statement)
          .filter((r) => !JSON.stringify(r).includes(':parameter/cost-watchdog/'))
          .map((r) => `${where}: ${writes.join(',')} on ${JSON.stringify(r)}`);
      });

    expect(outside).toEqual([]);
  });

  it('creates no plain-text SSM parameter (secrets are SecureString, written by the code)', () => {
    expect(ofType(template, 'AWS::SSM::Parameter')).toEqual([]);
  });

  it('creates no KMS key by default (it would cost $1 a month): the topic has no key of its own', () => {
    expect(template.Parameters?.TopicKey).toMatchObject({
      Default: 'false',
      AllowedValues: ['true', 'false'],
    });
    expect(template.Conditions?.UseTopicKey).toEqual({ 'Fn::Equals': [{ Ref: 'TopicKey' }, 'true'] });
    for (const id of ['AlertTopicKey', 'AlertTopicKeyAlias', 'AlertTopicKeyUse']) {
      expect(template.Resources[id]?.Condition, id).toBe('UseTopicKey');
    }
    expect(template.Resources.AlertTopic?.Properties?.KmsMasterKeyId).toEqual({
      'Fn::If': ['UseTopicKey', { 'Fn::GetAtt': ['AlertTopicKey', 'Arn'] }, { Ref: 'AWS::NoValue' }],
    });
  });

  it('with --param topicKey=true, encrypts the topic with its own rotated key that CloudWatch alarms may use', () => {
    const keyed = packagedTemplate({ topicKey: 'true' });
    const key = keyed.Resources.AlertTopicKey?.Properties ?? {};
    const keyPolicy = key.KeyPolicy as { Statement: Statement[] };

    expect(keyed.Parameters?.TopicKey).toMatchObject({ Default: 'true' });
    expect(key.EnableKeyRotation).toBe(true);
    expect(keyPolicy.Statement).toContainEqual(
      expect.objectContaining({
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      }),
    );
    // Only the account itself administers the key (AWS's default statement); no other principal gets kms:*.
    const admin = keyPolicy.Statement.filter((s) => actionsOf(s).includes('kms:*'));
    expect(admin.map((s) => s.Principal)).toEqual([
      { AWS: { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:root' } },
    ]);
  }, 300_000);

  it('refuses a topicKey that is not true or false, naming the parameter', () => {
    expect(() => packagedTemplate({ topicKey: 'yes' })).toThrow(
      /--param topicKey="yes" must be true or false/,
    );
  }, 300_000);

  it('lets every role that publishes to the topic use its key (when there is one), through SNS only', () => {
    const publishers = identityStatements(template)
      .filter(({ statement }) => actionsOf(statement).includes('sns:Publish'))
      .map(({ where }) => where)
      .sort();
    const keyUse = template.Resources.AlertTopicKeyUse?.Properties ?? {};

    expect(((keyUse.Roles ?? []) as { Ref: string }[]).map((r) => r.Ref).sort()).toEqual(publishers);
    expect(JSON.stringify(keyUse.PolicyDocument)).toContain('kms:ViaService');
  });

  it('keeps every log group for a bounded time, one per function', () => {
    const groups = ofType(template, 'AWS::Logs::LogGroup');

    expect(groups.length).toBe(ofType(template, 'AWS::Lambda::Function').length);
    for (const [id, group] of groups) expect(group.Properties?.RetentionInDays, id).toBeGreaterThan(0);
  });

  it('has an Errors alarm on every function, notifying the alert topic', () => {
    const functions = ofType(template, 'AWS::Lambda::Function')
      .map(([id]) => id)
      .sort();
    const alarmed = ofType(template, 'AWS::CloudWatch::Alarm')
      .filter(([, a]) => a.Properties?.MetricName === 'Errors')
      .map(([, a]) => {
        expect(a.Properties?.AlarmActions).toEqual([{ Ref: 'AlertTopic' }]);
        const dimensions = (a.Properties?.Dimensions ?? []) as { Value: { Ref: string } }[];
        return dimensions[0]?.Value.Ref;
      })
      .sort();

    expect(alarmed).toEqual(functions);
  });

  it.each([
    ['SweepLambdaFunction', 3600],
    ['DigestLambdaFunction', 86_400],
  ])('alarms when %s misses two schedule intervals of %i s', (fn, interval) => {
    const alarm = ofType(template, 'AWS::CloudWatch::Alarm').find(
      ([, a]) =>
        a.Properties?.MetricName === 'Invocations' &&
        JSON.stringify(a.Properties?.Dimensions).includes(`"${fn}"`),
    )?.[1].Properties;

    expect(alarm).toMatchObject({
      Statistic: 'Sum',
      Period: interval,
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
      AlarmActions: [{ Ref: 'AlertTopic' }],
    });
  });

  it.each([
    ['SweepLambdaFunction', 0],
    ['DigestLambdaFunction', 0],
    ['LaunchDashguardLambdaFunction', 1],
  ])('sends failed asynchronous invocations of %s to the alert topic, retrying %i times', (fn, retries) => {
    const config = ofType(template, 'AWS::Lambda::EventInvokeConfig').find(
      ([, c]) => JSON.stringify(c.Properties?.FunctionName) === JSON.stringify({ Ref: fn }),
    )?.[1].Properties;

    expect(config).toMatchObject({
      MaximumRetryAttempts: retries,
      DestinationConfig: { OnFailure: { Destination: { Ref: 'AlertTopic' } } },
    });
  });

  it('delivers alarms and failure records (no message attributes) to the admin subscription', () => {
    expect(template.Resources.AdminSubscription?.Properties?.FilterPolicy).toEqual({
      owner: [{ exists: false }],
    });
  });
});

describe('the source code', () => {
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
    );
  const root = join(import.meta.dirname, '..', '..');

  it('never calls TerminateInstances', () => {
    const neverCalled = /TerminateInstances|terminateInstances\(/;
    const hits = files(join(root, 'src')).filter((f) => neverCalled.test(readFileSync(f, 'utf8')));

    expect(hits).toEqual([]);
  });

  it('never deletes or snapshots a notebook or database (stop only; tags are the one thing removed)', () => {
    const forbidden =
      /Delete(NotebookInstance|DBInstance|DBCluster|DBSnapshot|DBClusterSnapshot)|Create(DBSnapshot|DBClusterSnapshot)|DBSnapshotIdentifier|SkipFinalSnapshot|FinalDBSnapshotIdentifier/;
    const hits = files(join(root, 'src')).filter((f) => forbidden.test(readFileSync(f, 'utf8')));
    const roles = readdirSync(join(root, 'resources'))
      .filter((f) => f.endsWith('.yml'))
      .filter((f) =>
        /(sagemaker|rds):(Delete(?!Tags)|Create\w*Snapshot)/.test(
          readFileSync(join(root, 'resources', f), 'utf8'),
        ),
      );

    expect(hits).toEqual([]);
    expect(roles).toEqual([]);
  });

  it('writes every SSM parameter that holds a secret as SecureString (the usage ledger and the run claims hold none)', () => {
    const puts = files(join(root, 'src')).flatMap((f) => {
      const text = readFileSync(f, 'utf8');
      return [...text.matchAll(/new PutParameterCommand\(\{([\s\S]*?)\}\)/g)].map((m) => [f, m[1] ?? '']);
    });
    const plain = ['usage-store.ts', 'run-claims.ts'].map((f) => join('src', 'aws', f));
    const ledger = (file: string | undefined) => plain.some((p) => (file ?? '').endsWith(p));

    expect(puts.length).toBeGreaterThan(1);
    for (const [file, body] of puts) {
      // The month counters (hours and dollars) and the fan-out's run claims (a run's time and counts) are plain
      // standard parameters: no secret, no KMS cost.
      expect(body, file).toMatch(
        ledger(file) ? /Type: 'String',\s+Tier: 'Standard'/ : /Type: 'SecureString'/,
      );
    }
    expect(puts.filter(([file]) => ledger(file))).toHaveLength(2);
  });
});
