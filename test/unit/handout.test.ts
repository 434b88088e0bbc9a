/**
 * The student handout: it matches what the student has (console password, access key, both, neither, a lab), and
 * every `aws ...` command in it is one the guardrail lets the student run, judged by the independent IAM simulator
 * (@cloud-copilot/iam-simulate) as AWS authorizes it.
 */
import { describe, expect, it } from 'vitest';
import {
  type HandoutFacts,
  renderHandout,
  signInUrl,
  type StudentAccess,
} from '../../src/core/provisioning/handout.js';
import { DEFAULT_POLICY, parsePolicy, TAGS } from '../../src/core/policy.js';
import { CLASS_GUARDRAIL, classroom, fromOwnTemplate } from '../support/classroom.js';
import {
  ACCOUNT,
  type Authorization,
  authorize,
  authorizeAll,
  guardrailDocuments,
} from '../support/iam-simulator.js';
import { onInstance, runInstancesAuthorizations } from '../support/student-requests.js';

const policies = guardrailDocuments(CLASS_GUARDRAIL);

function facts(access: Partial<StudentAccess> = {}, extra: Partial<HandoutFacts> = {}): HandoutFacts {
  return {
    user: 'alice',
    region: 'us-east-1',
    ownerTag: TAGS.owner,
    instanceType: 't3.micro',
    access: { kind: 'iam', consolePassword: false, accessKey: false, ...access },
    signInUrl: signInUrl('my-class'),
    alerts: { email: 'alice@example.edu', state: 'subscribed' },
    policy: DEFAULT_POLICY,
    notebookPort: 8888,
    ...extra,
  };
}

const VARIANTS: [string, Partial<StudentAccess>][] = [
  ['an access key', { accessKey: true }],
  ['a console password and an access key', { consolePassword: true, accessKey: true }],
  ['neither (about to ask for one)', {}],
  ['a console password only', { consolePassword: true }],
];

/** The `aws ...` lines of a handout (shell and PowerShell alike). */
function commandsOf(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('aws '));
}

/** The authorizations one `aws ...` line of the handout needs, as alice. */
function authorizationsOf(command: string): Authorization[] {
  const account = classroom();
  const region = { 'aws:RequestedRegion': 'us-east-1' };
  const [, service, operation] = command.split(/\s+/);
  if (service === 'configure') return []; // local only: writes ~/.aws, calls no AWS API
  if (service === 'ec2' && operation === 'run-instances') {
    expect(command).toContain("--launch-template 'LaunchTemplateName=cost-watchdog-alice,Version=$Default'");
    return runInstancesAuthorizations(account, fromOwnTemplate('alice'));
  }
  if (service === 'ssm' && operation === 'get-parameter') {
    const name = /--name (\S+)/.exec(command)?.[1];
    return [
      {
        action: 'ssm:GetParameter',
        resource: `arn:aws:ssm:us-east-1:${ACCOUNT}:parameter${name}`,
        context: region,
      },
    ];
  }
  if (service === 'ec2' && operation === 'describe-instances') {
    return [{ action: 'ec2:DescribeInstances', resource: '*', context: region }];
  }
  if (service === 'ec2' && operation === 'stop-instances') {
    return [onInstance(account, 'ec2:StopInstances', { Owner: 'alice' })];
  }
  if (service === 'ec2' && operation === 'start-instances') {
    return [onInstance(account, 'ec2:StartInstances', { Owner: 'alice' })];
  }
  throw new Error(`the handout runs a command this test does not know: ${command}`);
}

describe('the commands in the handout', () => {
  it('names the commands a student with an access key runs, in order', () => {
    expect(
      commandsOf(renderHandout(facts({ accessKey: true }))).map((c) => c.split(/\s+/).slice(1, 3).join(' ')),
    ).toEqual([
      'configure',
      'ec2 run-instances',
      'ssm get-parameter',
      'ssm get-parameter',
      'ec2 describe-instances',
      'ec2 stop-instances',
      'ec2 start-instances',
    ]);
  });

  const everyCommand = [
    ...new Set(
      VARIANTS.flatMap(([, access]) => commandsOf(renderHandout(facts(access, { setup: 'datascience' })))),
    ),
  ];

  it('has commands to check (the list below is not empty)', () => {
    expect(everyCommand.length).toBeGreaterThanOrEqual(6);
  });

  it.each(everyCommand)('lets alice run: %s', async (command) => {
    expect((await authorizeAll(policies, authorizationsOf(command))).verdict).toBe('allow');
  });

  it("fetches only alice's own key: the same command for bob's key is refused", async () => {
    const fetch = commandsOf(renderHandout(facts({ accessKey: true }))).find((c) =>
      c.includes('get-parameter'),
    );
    const bobs = (fetch ?? '').replace('/cost-watchdog/keys/alice', '/cost-watchdog/keys/bob');
    expect(bobs).toContain('/cost-watchdog/keys/bob');
    expect((await authorizeAll(policies, authorizationsOf(bobs))).verdict).toBe('implicit-deny');
  });

  it('writes the key on Windows PowerShell as ASCII (">" there writes UTF-16, which ssh cannot read)', () => {
    const text = renderHandout(facts({ accessKey: true }));
    const lines = text.split('\n').map((l) => l.trim());
    const powershell = lines.filter((l) => l.includes('Out-File'));
    expect(powershell).toEqual([
      'aws ssm get-parameter --region us-east-1 --name /cost-watchdog/keys/alice --with-decryption --query Parameter.Value --output text | Out-File -Encoding ascii cost-watchdog-alice.pem',
    ]);
    expect(lines).toContain('icacls cost-watchdog-alice.pem /inheritance:r /grant:r "$($env:USERNAME):(R)"');
    expect(lines).toContain('chmod 600 cost-watchdog-alice.pem');
    expect(lines).toContain('ssh -i cost-watchdog-alice.pem ec2-user@HOST');
    expect(text).toContain('PuTTYgen');
  });

  it('names the one MFA device name the guardrail lets alice create', async () => {
    const text = renderHandout(facts({ consolePassword: true }));
    const name = /device name (\S+)/.exec(text)?.[1];
    const create = (device: string) =>
      authorize(policies, {
        action: 'iam:CreateVirtualMFADevice',
        resource: `arn:aws:iam::${ACCOUNT}:mfa/${device}`,
        context: {},
      });
    expect(name).toBe('alice');
    expect((await create(name ?? '')).verdict).toBe('allow');
    expect((await create('alice-phone')).verdict).toBe('explicit-deny');
  });
});

describe('what the handout says a student has', () => {
  it('gives a console-only student the sign-in URL and the console path, and no aws command they could not run', async () => {
    // Act
    const text = renderHandout(facts({ consolePassword: true }));

    // Assess
    expect(commandsOf(text)).toEqual([]);
    expect(text).toContain('sign in at https://my-class.signin.aws.amazon.com/console as IAM user alice');
    expect(text).toContain('kept in SSM SecureString /cost-watchdog/passwords/alice');
    expect(text).toContain('Launch instance from template');
    expect(text).toContain('your instructor gives you the file cost-watchdog-alice.pem');
    // The console steps make these calls; the guardrail allows each of them.
    const account = classroom();
    const consoleCalls: Authorization[] = [
      ...['ec2:DescribeLaunchTemplates', 'ec2:DescribeLaunchTemplateVersions', 'ec2:DescribeInstances'].map(
        (action) => ({ action, resource: '*', context: { 'aws:RequestedRegion': 'us-east-1' } }),
      ),
      ...runInstancesAuthorizations(account, fromOwnTemplate('alice')),
      onInstance(account, 'ec2:StopInstances', { Owner: 'alice' }),
      onInstance(account, 'ec2:StartInstances', { Owner: 'alice' }),
    ];
    expect((await authorizeAll(policies, consoleCalls)).verdict).toBe('allow');
  });

  it('tells a student with an access key how it reaches them and where it is kept, never the secret', () => {
    const text = renderHandout(facts({ accessKey: true }));
    expect(text).toContain('your instructor gives you an access key');
    expect(text).toContain('/cost-watchdog/access-keys/alice, which only your instructor can read');
    expect(text).not.toContain('Console: sign in');
  });

  it('tells a student with neither what to ask the instructor for', () => {
    const text = renderHandout(facts());
    expect(text).toContain(
      'You have no console password and no access key yet. Ask your instructor for an access key',
    );
    expect(text).toContain('https://my-class.signin.aws.amazon.com/console');
    expect(text).not.toContain('Console: sign in');
    expect(text).not.toContain('Command line: your instructor gives you');
  });

  it('sends a lab student to the lab, with no IAM sign-in, password or MFA', () => {
    const text = renderHandout(facts({ kind: 'lab', consolePassword: true, accessKey: true }));
    expect(text).toContain('through your lab');
    expect(text).not.toMatch(/signin\.aws|Console: sign in|MFA|access-keys/);
  });

  it('puts the cost warning right under the title', () => {
    const text = renderHandout(
      facts({}, { costWarning: 'NOT FREE TIER: g4dn.xlarge costs about $0.526 an hour' }),
    );
    expect(text.split('\n')[1]).toBe('NOT FREE TIER: g4dn.xlarge costs about $0.526 an hour');
  });

  it('asks the student to confirm the subscription while it is pending', () => {
    expect(renderHandout(facts({}, { alerts: { email: 'a@example.edu', state: 'pending' } }))).toContain(
      'The warning goes to a@example.edu: click "Confirm subscription"',
    );
    expect(renderHandout(facts({}, { alerts: { email: 'a@example.edu', state: 'none' } }))).toContain(
      'Your instructor gets the warning',
    );
  });
});

describe('what the handout says the watchdog does', () => {
  it('states the rules with the numbers of the policy, and that nothing is terminated', () => {
    // Prepare
    const policy = parsePolicy({
      graceMinutes: 30,
      timeZone: 'Europe/Berlin',
      idle: { cpuPercent: 3, networkMB: 10, windowHours: 1, minRunningMinutes: 45 },
      maxRunningHours: { freeTier: 12, nonFreeTier: null },
      nonFreeTier: { action: 'stop' },
    });

    // Act
    const text = renderHandout(facts({ accessKey: true }, { policy }));

    // Assess
    expect(text).toContain(
      '- idle: it has run at least 45 minutes and, over the last 60 minutes, used under 3% CPU on average and under 10 MB of network traffic',
    );
    expect(text).toContain(
      '- running too long: more than 12 hours in a row (free-tier types), however busy it is;',
    );
    expect(text).toContain('- not free tier:');
    expect(text).toContain('If the same reason still holds 30 minutes later, the instance is stopped.');
    expect(text).toContain('It is never terminated');
    expect(text).toContain('keep it running 4 more hours, keep it until tomorrow 09:00 (Europe/Berlin)');
    expect(text).not.toContain('only reports');
  });

  it('says a type outside the free tier is only reported under the default policy, and when the watchdog stops nothing', () => {
    const text = renderHandout(facts({}, { policy: parsePolicy({ dryRun: true }) }));
    expect(text).toContain('only reported to you and your instructor, not stopped for that alone');
    expect(text).toContain(
      '- running too long: more than 24 hours in a row (free-tier types) or 8 hours in a row',
    );
    expect(text).toContain('(For now the watchdog only reports: it stops nothing.)');
  });

  it.each(VARIANTS)(
    'never tells a student with %s to tag anything, and sends them to the links or the instructor',
    (_what, access) => {
      const text = renderHandout(facts(access));
      expect(text).not.toMatch(
        /tag it|create-tags|--tag-specifications|cost-watchdog:exempt|cost-watchdog:/i,
      );
      expect(text).toContain('The warning email has links');
      expect(text).toContain('ask your instructor: only they can exempt an instance');
    },
  );
});

describe('the sign-in URL', () => {
  it.each([
    ['my-class', 'aws', 'https://my-class.signin.aws.amazon.com/console'],
    ['111122223333', 'aws', 'https://111122223333.signin.aws.amazon.com/console'],
    ['111122223333', 'aws-us-gov', 'https://111122223333.signin.amazonaws-us-gov.com/console'],
    ['111122223333', 'aws-cn', 'https://111122223333.signin.amazonaws.cn/console'],
  ])('for %s in %s is %s', (who, partition, url) => {
    expect(signInUrl(who, partition)).toBe(url);
  });
});
