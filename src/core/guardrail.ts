/**
 * The guardrail policy of the `cost-watchdog-users` group, and a small IAM statement evaluator so tests (and
 * `provision --json` readers) can ask what a student may do without calling AWS.
 */

/** An IAM condition block: operator -> key -> value(s). */
export type Conditions = Record<string, Record<string, string | string[]>>;

/** One IAM policy statement (the subset this code writes). */
export interface Statement {
  Sid: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource: string | string[];
  Condition?: Conditions;
}

/** An IAM policy document. */
export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: Statement[];
}

/** What the guardrail allows; computed by the provision job from the policy and the account. */
export interface GuardrailOptions {
  /** Instance types students may launch. */
  allowedTypes: readonly string[];
  /** Regions students may launch in. */
  allowedRegions: readonly string[];
  /** Tag key that names an instance's owner (the policy's `tags.owner`, default `Owner`). */
  ownerTag: string;
  /** Prefix of the SSM parameters holding private keys, e.g. /cost-watchdog/keys/. */
  keyParameterPrefix: string;
  /** ARN partition (aws, aws-cn, aws-us-gov); default aws. */
  partition?: string;
}

/** Name of the inline policy on the users group. */
export const GUARDRAIL_POLICY_NAME = 'cost-watchdog-guardrail';

/** Read-only EC2 calls a student needs to see their instances and launch from the template. */
export const STUDENT_DESCRIBE_ACTIONS = [
  'ec2:DescribeInstances',
  'ec2:DescribeInstanceStatus',
  'ec2:DescribeInstanceTypes',
  'ec2:DescribeImages',
  'ec2:DescribeKeyPairs',
  'ec2:DescribeSecurityGroups',
  'ec2:DescribeVpcs',
  'ec2:DescribeSubnets',
  'ec2:DescribeAvailabilityZones',
  'ec2:DescribeLaunchTemplates',
  'ec2:DescribeLaunchTemplateVersions',
  'ec2:DescribeVolumes',
  'ec2:DescribeTags',
  'ec2:DescribeRegions',
] as const;

/**
 * The guardrail: launch only allowed types in allowed regions and only with `Owner` = your user name;
 * start/stop/reboot only instances tagged with your name; read-only describes; read your own private key;
 * change your own password (needed for the forced reset) and nothing else in IAM.
 */
export function guardrailPolicy(options: GuardrailOptions): PolicyDocument {
  const ownerTag = options.ownerTag;
  const arn = (rest: string) => `arn:${options.partition ?? 'aws'}:${rest}`;
  const regions = [...options.allowedRegions];
  const inRegions = { StringEquals: { 'aws:RequestedRegion': regions } };
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'ReadOnlyDescribe',
        Effect: 'Allow',
        Action: [...STUDENT_DESCRIBE_ACTIONS],
        Resource: '*',
      },
      {
        Sid: 'LaunchOwnInstancesOfAllowedTypes',
        Effect: 'Allow',
        Action: 'ec2:RunInstances',
        Resource: arn('ec2:*:*:instance/*'),
        Condition: {
          StringEquals: {
            'aws:RequestedRegion': regions,
            'ec2:InstanceType': [...options.allowedTypes],
            [`aws:RequestTag/${ownerTag}`]: '${aws:username}',
          },
        },
      },
      {
        Sid: 'LaunchWithTheseResources',
        Effect: 'Allow',
        Action: 'ec2:RunInstances',
        Resource: [
          arn('ec2:*:*:volume/*'),
          arn('ec2:*:*:network-interface/*'),
          arn('ec2:*:*:security-group/*'),
          arn('ec2:*:*:subnet/*'),
          arn('ec2:*:*:key-pair/*'),
          arn('ec2:*:*:launch-template/*'),
          arn('ec2:*::image/*'),
        ],
        Condition: inRegions,
      },
      {
        Sid: 'TagOnlyAtLaunch',
        Effect: 'Allow',
        Action: 'ec2:CreateTags',
        Resource: [arn('ec2:*:*:instance/*'), arn('ec2:*:*:volume/*')],
        Condition: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
      },
      {
        Sid: 'StartStopOwnInstances',
        Effect: 'Allow',
        Action: ['ec2:StartInstances', 'ec2:StopInstances', 'ec2:RebootInstances'],
        Resource: arn('ec2:*:*:instance/*'),
        Condition: { StringEquals: { [`aws:ResourceTag/${ownerTag}`]: '${aws:username}' } },
      },
      {
        Sid: 'ReadOwnKeyAndPublicAmis',
        Effect: 'Allow',
        Action: 'ssm:GetParameter',
        Resource: [
          arn(`ssm:*:*:parameter${options.keyParameterPrefix}${'${aws:username}'}`),
          arn('ssm:*::parameter/aws/service/ami-amazon-linux-latest/*'),
        ],
      },
      {
        Sid: 'ChangeOwnPassword',
        Effect: 'Allow',
        Action: ['iam:ChangePassword', 'iam:GetUser'],
        Resource: arn('iam::*:user/*/${aws:username}'),
      },
      {
        Sid: 'ReadPasswordRules',
        Effect: 'Allow',
        Action: 'iam:GetAccountPasswordPolicy',
        Resource: '*',
      },
      {
        Sid: 'DenyOtherTypes',
        Effect: 'Deny',
        Action: 'ec2:RunInstances',
        Resource: arn('ec2:*:*:instance/*'),
        Condition: { StringNotEquals: { 'ec2:InstanceType': [...options.allowedTypes] } },
      },
      {
        Sid: 'DenyOtherRegions',
        Effect: 'Deny',
        Action: ['ec2:RunInstances', 'ec2:StartInstances'],
        Resource: '*',
        Condition: { StringNotEquals: { 'aws:RequestedRegion': regions } },
      },
      {
        Sid: 'NoRetagOrAttributeChanges',
        Effect: 'Deny',
        Action: ['ec2:DeleteTags', 'ec2:ModifyInstanceAttribute'],
        Resource: '*',
      },
      {
        Sid: 'NoIamChanges',
        Effect: 'Deny',
        Action: [
          'iam:Add*',
          'iam:Attach*',
          'iam:Create*',
          'iam:Delete*',
          'iam:Detach*',
          'iam:PassRole',
          'iam:Put*',
          'iam:Remove*',
          'iam:Set*',
          'iam:Tag*',
          'iam:Untag*',
          'iam:Update*',
          'iam:Upload*',
        ],
        Resource: '*',
      },
    ],
  };
}

/** One API request to evaluate: the action, the resource ARN and the request context keys. */
export interface RequestContext {
  action: string;
  resource: string;
  /** Condition keys, e.g. { 'aws:username': 'alice', 'ec2:InstanceType': 't3.micro' }. */
  context: Record<string, string | string[]>;
}

/** The outcome of evaluating a request: an explicit deny wins, then an allow; otherwise implicitly denied. */
export type Verdict = 'allow' | 'explicit-deny' | 'implicit-deny';

/**
 * Evaluates one request against a policy document as IAM does for identity policies: any matching Deny denies,
 * else any matching Allow allows, else the request is implicitly denied. Supports Action/NotAction with `*`
 * and `?` wildcards, Resource wildcards, `${aws:username}`-style variables, and the operators StringEquals,
 * StringNotEquals, StringLike, StringNotLike, StringEqualsIgnoreCase and Bool, with ForAllValues:/ForAnyValue:.
 */
export function evaluateRequest(document: PolicyDocument, request: RequestContext): Verdict {
  let allowed = false;
  for (const statement of document.Statement) {
    if (!statementMatches(statement, request)) continue;
    if (statement.Effect === 'Deny') return 'explicit-deny';
    allowed = true;
  }
  return allowed ? 'allow' : 'implicit-deny';
}

/**
 * Evaluates a request that authorizes several resources at once (RunInstances: the instance, its volume, the
 * security group, ...): allowed only when every resource is allowed; the first denial is returned.
 */
export function evaluateRequests(
  document: PolicyDocument,
  action: string,
  resources: readonly string[],
  context: Record<string, string | string[]>,
): Verdict {
  for (const resource of resources) {
    const verdict = evaluateRequest(document, { action, resource, context });
    if (verdict !== 'allow') return verdict;
  }
  return 'allow';
}

function list(value: string | string[] | undefined): string[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

function wildcard(pattern: string, caseInsensitive: boolean): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, caseInsensitive ? 'i' : '');
}

function substitute(value: string, context: Record<string, string | string[]>): string {
  return value.replace(/\$\{([^}]+)\}/g, (_, key: string) => {
    const v = context[key];
    return typeof v === 'string' ? v : `\u0000unresolved:${key}`;
  });
}

function statementMatches(statement: Statement, request: RequestContext): boolean {
  const action = request.action;
  if (statement.Action !== undefined && !list(statement.Action).some((a) => wildcard(a, true).test(action))) {
    return false;
  }
  if (
    statement.NotAction !== undefined &&
    list(statement.NotAction).some((a) => wildcard(a, true).test(action))
  ) {
    return false;
  }
  const resources = list(statement.Resource).map((r) => substitute(r, request.context));
  if (!resources.some((r) => wildcard(r, false).test(request.resource))) return false;
  for (const [operator, entries] of Object.entries(statement.Condition ?? {})) {
    for (const [key, expected] of Object.entries(entries)) {
      if (
        !conditionHolds(
          operator,
          request.context[key],
          list(expected).map((e) => substitute(e, request.context)),
        )
      ) {
        return false;
      }
    }
  }
  return true;
}

function conditionHolds(
  operator: string,
  actual: string | string[] | undefined,
  expected: string[],
): boolean {
  const [qualifier, base] = operator.includes(':') ? operator.split(':', 2) : [undefined, operator];
  const negated = /Not/.test(base ?? '');
  const test = (value: string): boolean => {
    switch (base) {
      case 'StringEquals':
      case 'StringNotEquals':
        return expected.includes(value);
      case 'StringEqualsIgnoreCase':
      case 'StringNotEqualsIgnoreCase':
        return expected.some((e) => e.toLowerCase() === value.toLowerCase());
      case 'StringLike':
      case 'StringNotLike':
        return expected.some((e) => wildcard(e, false).test(value));
      case 'Bool':
        return expected.includes(value.toLowerCase());
      default:
        throw new Error(`condition operator ${operator} is not supported by the evaluator`);
    }
  };
  const values = list(actual);
  if (qualifier === 'ForAllValues') {
    return values.every((v) => (negated ? !test(v) : test(v)));
  }
  if (qualifier === 'ForAnyValue') {
    return values.some((v) => (negated ? !test(v) : test(v)));
  }
  // Single-valued: a missing key never matches a positive operator and always matches a negated one.
  if (values.length === 0) return negated;
  const matched = values.some(test);
  return negated ? !matched : matched;
}
