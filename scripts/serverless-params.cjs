// Checks the deploy parameters before anything is packaged or deployed, with a message that says the fix.
// Used from serverless.yml as ${file(./scripts/serverless-params.cjs):alertEmail}.
'use strict';

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

async function param(options, resolveVariable, name) {
  // --param key=value on the command line (options.param), else params: in serverless.yml.
  for (const item of [].concat(options?.param || [])) {
    const eq = String(item).indexOf('=');
    if (eq > 0 && String(item).slice(0, eq) === name)
      return (
        String(item)
          .slice(eq + 1)
          .trim() || undefined
      );
  }
  try {
    const value = await resolveVariable(`param:${name}`);
    return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
  } catch {
    return undefined;
  }
}

// The serverless command being run, as osls reads it: the words before the first option (`invoke local`,
// `deploy`, `remove`, ...). Variable resolvers are not told the command, so it is read from the command line.
function slsCommand(argv = process.argv.slice(2)) {
  const words = [];
  for (const arg of argv) {
    if (arg.startsWith('-')) break;
    words.push(arg);
  }
  return words.join(' ');
}

// Commands that build or deploy the stack's template: only they create the email subscription. Anything else
// (remove, info, logs, invoke, invoke local, print, metrics, deploy function, ...) never reads the address. An
// empty command (a wrapper that hides it) counts as a deploy, to be safe.
const BUILDS_TEMPLATE = new Set(['', 'deploy', 'package']);

// A mistake in a deploy parameter: one line on stderr and exit 1, instead of the 15-line stack trace osls prints for
// an error thrown by a variable resolver. Only for the commands that need the value (see BUILDS_TEMPLATE).
function stop(message) {
  process.stderr.write(`✖ ${message}\n`);
  process.exit(1);
}

// What the admin subscription's Endpoint is when the command builds no template (it is never sent anywhere).
const NO_EMAIL = 'alert-email-not-needed-for-this-command@example.invalid';

// The admin's alert address (--param alertEmail=...): required and checked for `deploy` and `package`; for every
// other command (remove, info, logs, invoke, ...) optional, since they never create the subscription.
module.exports.alertEmail = async ({ options, resolveVariable }) => {
  const email = await param(options, resolveVariable, 'alertEmail');
  const required = BUILDS_TEMPLATE.has(slsCommand());
  if (!email) {
    if (!required) return NO_EMAIL;
    stop(
      'Missing alert email: run it again with  --param alertEmail=you@example.edu  (the address that gets ' +
        'warnings and digests; confirm the subscription email AWS sends to it).',
    );
  }
  if (!EMAIL.test(email)) {
    if (!required) return NO_EMAIL;
    stop(
      `--param alertEmail="${printable(email)}" is not an email address; use e.g. --param alertEmail=you@example.edu`,
    );
  }
  return email;
};

// ACTIONS_URL of the sweep: the actions function's URL (a CloudFormation GetAtt) in the template. `serverless
// invoke local` can resolve only Ref and ImportValue in environment variables, so there it is empty: the local sweep
// then sends its warnings without keep / stop links and logs that it does.
module.exports.actionsUrl = async () =>
  slsCommand() === 'invoke local' ? '' : { 'Fn::GetAtt': ['ActionsLambdaFunctionUrl', 'FunctionUrl'] };

// SHA-256 of watchdog.yml as packaged (hex), set on every function as POLICY_SHA256: `cost-watchdog status`
// compares it with the local file to say whether watchdog.yml changed since the last deploy.
module.exports.policySha256 = async () => {
  const { createHash } = require('node:crypto');
  const { readFileSync, existsSync } = require('node:fs');
  const { join } = require('node:path');
  const file = join(__dirname, '..', 'watchdog.yml');
  return existsSync(file) ? createHash('sha256').update(readFileSync(file)).digest('hex') : 'none';
};

// A value from the command line made safe to quote on one line.
function printable(value) {
  // control, format (bidi) and unassigned characters become '?'
  const text = String(value).replace(/\p{C}/gu, '?');
  return text.length > 80 ? `${text.slice(0, 79)}~` : text;
}

// For tests: the command as read from a command line.
module.exports.slsCommand = slsCommand;

// watchdog.yml next to serverless.yml, as packaged with the functions (an empty policy when there is none).
function policy() {
  const { readFileSync, existsSync } = require('node:fs');
  const { join } = require('node:path');
  const { parse } = require('yaml');
  const file = join(__dirname, '..', 'watchdog.yml');
  return existsSync(file) ? parse(readFileSync(file, 'utf8')) || {} : {};
}

// A tag key of the policy (tags.exempt or tags.owner in watchdog.yml), checked before it reaches an IAM condition.
function tagKey(name, fallback) {
  const key = policy().tags?.[name] || fallback;
  if (typeof key !== 'string' || !/^[\w .:/=+\-@]{1,128}$/.test(key)) {
    throw new Error(`watchdog.yml tags.${name}="${key}" is not a valid tag key`);
  }
  return key;
}

const exemptKey = () => tagKey('exempt', 'cost-watchdog:exempt');

// The policy's owner tag key (tags.owner in watchdog.yml).
const ownerKey = () => tagKey('owner', 'Owner');

// The IAM condition that denies StopInstances on exempt instances, keyed by the policy's exempt tag
// (serverless.yml cannot put a variable in a mapping key, so the whole mapping comes from here).
module.exports.exemptCondition = async () => ({ [`aws:ResourceTag/${exemptKey()}`]: 'true' });

// The tag keys the actions function may write: the watchdog's own, plus the policy's exempt key when it was
// renamed to something outside cost-watchdog:* (a "keep" link sets the snooze on that key).
module.exports.actionTagKeys = async () => {
  const key = exemptKey();
  return key.startsWith('cost-watchdog:') ? ['cost-watchdog:*'] : ['cost-watchdog:*', key];
};

// --param topicKey=true: encrypt the alert topic with a customer managed KMS key of its own ($1 a month). Off by
// default: the topic then has no server-side encryption of its own (SNS keeps messages only until they are delivered,
// over HTTPS only), and the AWS managed key alias/aws/sns cannot be used at all, because CloudWatch alarms could
// not publish to a topic encrypted with it (docs/costs.md, "The watchdog's own bill").
module.exports.topicKey = async ({ options, resolveVariable }) => {
  const value = await param(options, resolveVariable, 'topicKey');
  if (value === undefined || value === 'false') return 'false';
  if (value === 'true') return 'true';
  throw new Error(`--param topicKey="${value}" must be true or false (true: a KMS key of its own for the alert topic, $1 a month)`);
};

// Reserved concurrency of the public actions function (--param actionsConcurrency=N): the most link requests
// it serves at once, and a share of the account's concurrency nobody else can take. Unset by default: Lambda
// refuses a reservation that leaves the account less than its minimum unreserved concurrency (100 with the
// usual limit of 1,000; new accounts often have a limit of 10, so any reservation fails there), and a
// non-zero default would make `serverless deploy` fail for a newcomer (docs/actions.md, "Concurrency").
module.exports.actionsConcurrency = async ({ options, resolveVariable }) => {
  const value = await param(options, resolveVariable, 'actionsConcurrency');
  if (value === undefined) return null;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 1000) {
    throw new Error(
      `--param actionsConcurrency="${value}" is not a whole number from 1 to 1000. Leave it out (no reservation, ` +
        'the default) or give e.g. --param actionsConcurrency=5; 0 would switch the links off entirely.',
    );
  }
  return Number(value);
};

// The sweep role's second inline policy: which member-account roles it may assume (docs/scale.md).
//  - accounts listed in watchdog.yml: exactly arn:<partition>:iam::<id>:role/cost-watchdog/<roleName> of each;
//  - organization: true: the memberRoleName role (path /cost-watchdog/) in any account, but only while that account
//    is in the sweep's own organization (aws:ResourceOrgID = ${aws:PrincipalOrgID});
//  - neither: AssumeRole explicitly denied.
// Member roles live under /cost-watchdog/ (src/aws/sts.ts memberRoleArn, resources/member-role.yml).
const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
module.exports.memberRolePolicy = async () => {
  const p = policy();
  const roleArn = (account, name) => ({
    'Fn::Sub': `arn:\${AWS::Partition}:iam::${account}:role/cost-watchdog/${name}`,
  });
  const checkName = (name, field) => {
    if (typeof name !== 'string' || !ROLE_NAME.test(name)) {
      throw new Error(
        `watchdog.yml ${field}="${name}" is not an IAM role name (letters, digits and +=,.@_-, up to 64)`,
      );
    }
    return name;
  };
  const accounts = p.accounts === undefined || p.accounts === null ? [] : p.accounts;
  if (!Array.isArray(accounts))
    throw new Error('watchdog.yml accounts must be a list, e.g. [{ id: "123456789012" }]');
  const listed = accounts.map((a, i) => {
    const id = String(a?.id ?? '');
    if (!/^\d{12}$/.test(id))
      throw new Error(`watchdog.yml accounts[${i}].id="${id}" must be a 12-digit AWS account id`);
    return roleArn(id, checkName(a.roleName ?? 'cost-watchdog-member', `accounts[${i}].roleName`));
  });
  const statements = [];
  if (listed.length > 0) {
    statements.push({
      Sid: 'AssumeListedMemberRoles',
      Effect: 'Allow',
      Action: 'sts:AssumeRole',
      Resource: listed,
    });
  }
  if (p.organization === true) {
    statements.push({
      Sid: 'AssumeOrganizationMemberRoles',
      Effect: 'Allow',
      Action: 'sts:AssumeRole',
      Resource: roleArn('*', checkName(p.memberRoleName ?? 'cost-watchdog-member', 'memberRoleName')),
      // The IAM policy variable ${aws:PrincipalOrgID}, joined by CloudFormation: written whole here, serverless
      // would take it for its own ${aws:...} variable source (which knows no PrincipalOrgID) and fail.
      Condition: {
        StringEquals: { 'aws:ResourceOrgID': { 'Fn::Join': ['', ['${', 'aws:PrincipalOrgID}']] } },
      },
    });
  }
  if (statements.length === 0) {
    statements.push({ Sid: 'NoMemberAccounts', Effect: 'Deny', Action: 'sts:AssumeRole', Resource: '*' });
  }
  return { Version: '2012-10-17', Statement: statements };
};

// The one tag key provision may add to its own key pairs, groups and templates after creating them: the owner
// (the students' guardrail lets a student launch only with the ones tagged with their name).
module.exports.ownerTagKeys = async () => [ownerKey()];

// The IAM Null condition "the resource carries an owner tag": deprovision --stop-instances stops only those.
module.exports.ownerTagPresent = async () => ({ [`aws:ResourceTag/${ownerKey()}`]: 'false' });

// Quiet hours (watchdog.yml quietHours, docs/quiet-hours.md) from the project's own TypeScript (src/core/
// quiet-schedules.ts, bundled here with esbuild once per packaging), so the stack and the functions read the windows
// the same way: the sweep's schedules (the policy's, then one UTC cron per window edge and UTC offset) and whether the
// sweep may start the instances quiet hours stopped. A bad window fails the packaging with the field and value.
const coreModules = new Map();
function coreModule(name) {
  if (!coreModules.has(name)) {
    const { buildSync } = require('esbuild');
    const Module = require('node:module');
    const { join } = require('node:path');
    const entry = join(__dirname, '..', 'src', 'core', `${name}.ts`);
    const out = buildSync({
      entryPoints: [entry],
      bundle: true,
      write: false,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      logLevel: 'silent',
    });
    const mod = new Module(entry);
    mod.filename = entry;
    mod.paths = Module._nodeModulePaths(join(__dirname, '..'));
    mod._compile(out.outputFiles[0].text, entry);
    coreModules.set(name, mod.exports);
  }
  return coreModules.get(name);
}

// The text of watchdog.yml next to serverless.yml (empty when there is none).
function policyText() {
  const { readFileSync, existsSync } = require('node:fs');
  const { join } = require('node:path');
  const file = join(__dirname, '..', 'watchdog.yml');
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

function quietHours() {
  return coreModule('quiet-schedules').quietHoursDeployment(policyText(), 'watchdog.yml');
}

// The sweep's schedule events: watchdog.yml `schedule`, then (with quiet hours) one event whose crons fire at each
// window's warning time, start and (morningStart) end, sending {"run":"quiet-hours"} so that such a run records no
// usage (the runs of `schedule` count the hours).
module.exports.sweepEvents = async () => quietHours().events;

// The morning start's ec2:StartInstances (resources/sweep-role.yml): Allow with quietHours.morningStart: true, else Deny.
module.exports.morningStartEffect = async () => (quietHours().morningStart ? 'Allow' : 'Deny');

// The fan-out (watchdog.yml fanOut, docs/scale.md), read by the project's own TypeScript (src/core/fan-out-deployment.ts):
// with `mode: on`, or `auto` and member accounts, the sweep-worker gets its SQS trigger and the sweep its 15-minute
// timeout; otherwise no queue is polled, the queues stay empty, and the sweep keeps its 300 s.
function fanOut() {
  return coreModule('fan-out-deployment').fanOutDeployment(policyText(), 'watchdog.yml');
}

// FAN_OUT of the sweep and the worker: on when the stack has the worker's trigger.
module.exports.fanOutEnabled = async () => (fanOut().deployed ? 'on' : 'off');

// The sweep's timeout: 300 s, or 900 s when it waits for the workers' results.
module.exports.sweepTimeout = async () => fanOut().sweepTimeout;

// resources/fan-out.yml (the queues, the worker's role, its alarm) with the fan-out, else resources/fan-out-off.yml.
module.exports.fanOutFile = async () => (fanOut().deployed ? 'fan-out.yml' : 'fan-out-off.yml');

// The queue URLs the sweep and the worker read (CloudFormation Refs), or empty without the fan-out.
const queueUrl = (queue) => async () => (fanOut().deployed ? { Ref: queue } : '');
module.exports.targetsQueueUrl = queueUrl('TargetsQueue');
module.exports.resultsQueueUrl = queueUrl('ResultsQueue');
module.exports.deadLetterQueueUrl = queueUrl('TargetsDeadLetterQueue');

// The sweep-worker function with its SQS trigger on the targets queue, or null (serverless then has no such function,
// and builds no bundle for it).
module.exports.workerFunction = async () => {
  const f = fanOut();
  if (!f.deployed) return null;
  return {
    handler: 'src/handlers/sweep-worker.handler',
    description: 'Sweeps the account x region targets a fanned-out sweep sends it (SQS) and sends back each result.',
    role: 'SweepWorkerRole',
    // Up to fanOut.batchSize targets at once; one target of 10,000 instances needs about 150 MB.
    memorySize: f.workerMemoryMB,
    timeout: f.workerTimeout,
    environment: {
      FAN_OUT: 'on',
      TARGETS_QUEUE_URL: { Ref: 'TargetsQueue' },
      RESULTS_QUEUE_URL: { Ref: 'ResultsQueue' },
      DEAD_LETTER_QUEUE_URL: { Ref: 'TargetsDeadLetterQueue' },
    },
    events: [
      {
        sqs: {
          arn: { 'Fn::GetAtt': ['TargetsQueue', 'Arn'] },
          batchSize: f.batchSize,
          functionResponseType: 'ReportBatchItemFailures',
          maximumConcurrency: f.concurrency,
        },
      },
    ],
  };
};

// The sweep role's third inline policy: send targets, read and delete results and dead-lettered targets, claim runs
// (SSM parameters under /cost-watchdog/runs/). Without the fan-out SendMessage is denied outright.
module.exports.fanOutPlannerPolicy = async () => {
  if (!fanOut().deployed) {
    return {
      Version: '2012-10-17',
      Statement: [{ Sid: 'NoFanOut', Effect: 'Deny', Action: 'sqs:SendMessage', Resource: '*' }],
    };
  }
  const arn = (queue) => ({ 'Fn::GetAtt': [queue, 'Arn'] });
  return {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'SendTargets', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: arn('TargetsQueue') },
      {
        Sid: 'ReadResults',
        Effect: 'Allow',
        Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'],
        Resource: [arn('ResultsQueue'), arn('TargetsDeadLetterQueue')],
      },
      {
        Sid: 'ClaimRuns',
        Effect: 'Allow',
        Action: ['ssm:GetParameter', 'ssm:PutParameter', 'ssm:GetParametersByPath', 'ssm:DeleteParameters'],
        Resource: [
          { 'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/cost-watchdog/runs' },
          { 'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/cost-watchdog/runs/*' },
        ],
      },
    ],
  };
};

// The default event bus's resource policy for launches forwarded from member accounts (resources/forwarder.yml,
// docs/scale.md): events:PutEvents from each account listed in watchdog.yml, and with organization: true from the
// organization given as --param organizationId=o-... (CloudFormation cannot look it up). Other regions of this account
// need no bus policy (the forwarder's role is in this account). Nothing without member accounts.
module.exports.forwardedEventsPolicy = async ({ options, resolveVariable }) => {
  const p = policy();
  const accounts = (Array.isArray(p.accounts) ? p.accounts : [])
    .map((a) => String(a?.id ?? ''))
    .filter((id) => /^\d{12}$/.test(id));
  const orgId = await param(options, resolveVariable, 'organizationId');
  if (orgId !== undefined && !/^o-[a-z0-9]{10,32}$/.test(orgId)) {
    throw new Error(`--param organizationId="${printable(orgId)}" is not an AWS Organizations id such as o-a1b2c3d4e5`);
  }
  const bus = { 'Fn::Sub': 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default' };
  const resources = {};
  if (accounts.length > 0) {
    resources.ForwardedLaunchesFromMemberAccounts = {
      Type: 'AWS::Events::EventBusPolicy',
      Properties: {
        StatementId: 'cost-watchdog-member-accounts',
        Statement: {
          Effect: 'Allow',
          Principal: { AWS: accounts.map((id) => ({ 'Fn::Sub': `arn:\${AWS::Partition}:iam::${id}:root` })) },
          Action: 'events:PutEvents',
          Resource: bus,
        },
      },
    };
  }
  if (p.organization === true && orgId !== undefined) {
    resources.ForwardedLaunchesFromOrganization = {
      Type: 'AWS::Events::EventBusPolicy',
      Properties: {
        StatementId: 'cost-watchdog-organization',
        Statement: {
          Effect: 'Allow',
          Principal: '*',
          Action: 'events:PutEvents',
          Resource: bus,
          Condition: { StringEquals: { 'aws:PrincipalOrgID': orgId } },
        },
      },
    };
  }
  return { Resources: resources };
};
