/**
 * The student handout: one plain-text sheet per provisioned user that the instructor hands over. It matches what
 * the student actually has (a console password, an access key, both, neither, or a lab account's own role), says
 * where each secret is kept without ever containing one, and every `aws ...` line in it is a command the guardrail
 * lets the student run (test/unit/handout.test.ts judges each with the IAM simulator).
 */
import { KEEP_HOURS, KEEP_UNTIL_LOCAL_TIME, LINK_VALIDITY_MS } from '../action-links.js';
import type { Policy } from '../policy.js';
import { JUPYTER_PORT, JUPYTER_TOKEN_FILE, type MachineSetup, runsJupyter } from './machine-setup.js';
import { accessKeyParameterName, keyParameterName, passwordParameterName, resourceName } from './roster.js';

/** How a student signs in. */
export interface StudentAccess {
  /** `lab`: IAM was skipped (lab accounts); students sign in through the lab and use its role. */
  kind: 'iam' | 'lab';
  /** They have a console password (must be changed at the first sign-in). */
  consolePassword: boolean;
  /** They have an access key for the AWS CLI. */
  accessKey: boolean;
}

/** Everything the handout says about one user; names only, never a secret. */
export interface HandoutFacts {
  user: string;
  region: string;
  ownerTag: string;
  instanceType: string;
  access: StudentAccess;
  /** The console sign-in URL of the account (signInUrl()); absent when it could not be looked up. */
  signInUrl?: string;
  /** Where their alerts go, and whether they still have to confirm the subscription. */
  alerts: { email: string; state: 'subscribed' | 'pending' | 'none' };
  /** The watchdog's rules they are judged by. */
  policy: Pick<
    Policy,
    'idle' | 'maxRunningHours' | 'graceMinutes' | 'nonFreeTier' | 'budget' | 'timeZone' | 'dryRun'
  >;
  notebookPort?: number;
  /** What the instance is ready for on first boot; datascience and gpu add the JupyterLab tunnel. */
  setup?: MachineSetup;
  /** Plain words when the template is not free tier; the line after the title. */
  costWarning?: string;
}

/** The console sign-in URL of IAM users of an account: `https://<alias or account id>.signin.aws.amazon.com/console`. */
export function signInUrl(aliasOrAccountId: string, partition = 'aws'): string {
  const domain =
    partition === 'aws-cn'
      ? 'signin.amazonaws.cn'
      : partition === 'aws-us-gov'
        ? 'signin.amazonaws-us-gov.com'
        : 'signin.aws.amazon.com';
  return `https://${aliasOrAccountId}.${domain}/console`;
}

/** Minutes or hours in words: `60 minutes`, `1.5 hours`, `24 hours`. */
function duration(minutes: number): string {
  if (minutes < 120) return `${minutes} minutes`;
  const hours = minutes / 60;
  return `${Number.isInteger(hours) ? hours : hours.toFixed(1)} hours`;
}

/** Numbered steps: each a first line and indented continuation lines. */
class Steps {
  readonly lines: string[] = [];
  private n = 0;
  add(first: string, ...more: string[]): void {
    this.n++;
    this.lines.push(`${this.n}. ${first}`, ...more.map((l) => `   ${l}`));
  }
}

function signInSection(facts: HandoutFacts): string[] {
  const { access, user } = facts;
  const url = facts.signInUrl ?? 'the sign-in page your instructor gives you';
  if (access.kind === 'lab') {
    return [
      "Signing in: through your lab (AWS Academy: Start Lab, then AWS). You use the lab's own role; the",
      "commands below work in the lab's terminal or in AWS CloudShell.",
    ];
  }
  const out: string[] = ['Signing in:'];
  if (access.consolePassword) {
    out.push(
      `Console: sign in at ${url} as IAM user ${user} with the first password your instructor gives you`,
      `(it is kept in SSM SecureString ${passwordParameterName(user)}, which only your instructor can read).`,
      'You must choose a new password at the first sign-in.',
      `MFA (recommended): Security credentials > Assign MFA device > Authenticator app, device name ${user}`,
      '(the only name you may give it).',
    );
  }
  if (access.accessKey) {
    out.push(
      'Command line: your instructor gives you an access key (an id and a secret; it is kept in SSM SecureString',
      `${accessKeyParameterName(user)}, which only your instructor can read). Install the AWS CLI v2`,
      '(https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html), then once:',
      '   aws configure',
      `(paste the id and the secret; default region ${facts.region}; output json). Never put the secret in code, a`,
      'repository or a chat.',
    );
  }
  if (!access.consolePassword && !access.accessKey) {
    out.push(
      'You have no console password and no access key yet. Ask your instructor for an access key (to run the',
      'commands below) or a console password (to use the AWS console); you then sign in at',
      `${url} as IAM user ${user}.`,
    );
  }
  return out;
}

function machineSection(facts: HandoutFacts): string[] {
  const name = resourceName(facts.user);
  const pem = `${name}.pem`;
  const r = `--region ${facts.region}`;
  const setup = facts.setup ?? 'none';
  // Console only: the EC2 console; anyone else (an access key, a lab, or someone about to get a key): the CLI.
  const console = facts.access.kind === 'iam' && facts.access.consolePassword && !facts.access.accessKey;
  const ec2Console = `https://${facts.region}.console.aws.amazon.com/ec2/home?region=${facts.region}`;
  const steps = new Steps();
  if (console) {
    steps.add(
      'Launch an instance from your template: in the EC2 console',
      `${ec2Console}#LaunchTemplates: select ${name}, Actions > Launch instance from template > Launch instance.`,
    );
    steps.add(
      `Your private key: your instructor gives you the file ${pem} (it is kept in SSM SecureString ${keyParameterName(facts.user)}).`,
      `macOS / Linux:       chmod 600 ${pem}`,
      `Windows PowerShell:  icacls ${pem} /inheritance:r /grant:r "$($env:USERNAME):(R)"`,
    );
    steps.add('Its address: EC2 console > Instances > your instance > Public IPv4 DNS (HOST below).');
  } else {
    steps.add(
      'Launch an instance from your template:',
      `aws ec2 run-instances ${r} --launch-template 'LaunchTemplateName=${name},Version=$Default'`,
    );
    const fetch = `aws ssm get-parameter ${r} --name ${keyParameterName(facts.user)} --with-decryption --query Parameter.Value --output text`;
    steps.add(
      'Fetch your private key (once) and protect it. macOS / Linux:',
      `${fetch} > ${pem}`,
      `chmod 600 ${pem}`,
      'Windows PowerShell (not ">": Windows PowerShell 5.1 writes UTF-16 with it, which ssh cannot read):',
      `${fetch} | Out-File -Encoding ascii ${pem}`,
      `icacls ${pem} /inheritance:r /grant:r "$($env:USERNAME):(R)"`,
    );
    steps.add(
      'Find its public address (HOST below):',
      `aws ec2 describe-instances ${r} --filters 'Name=tag:${facts.ownerTag},Values=${facts.user}' 'Name=instance-state-name,Values=running' --query 'Reservations[].Instances[].PublicDnsName' --output text`,
    );
  }
  steps.add(
    'Connect (macOS, Linux, and Windows 10/11 PowerShell, which has ssh built in):',
    `ssh -i ${pem} ec2-user@HOST`,
    `PuTTY (Windows): PuTTY cannot read .pem files. Open ${pem} in PuTTYgen (Conversions > Import key), click`,
    `"Save private key" as ${name}.ppk, then in PuTTY use Host Name ec2-user@HOST and`,
    'Connection > SSH > Auth > Credentials > Private key file = the .ppk (PuTTY 0.75 or newer reads ed25519 keys).',
  );
  if (runsJupyter(setup)) {
    steps.add(
      'JupyterLab: the instance installs Python, numpy, pandas, scikit-learn and JupyterLab on its first boot',
      `(about 5 minutes; progress in /var/log/cost-watchdog-setup.log). It listens on localhost only: tunnel to it`,
      `ssh -i ${pem} -L ${JUPYTER_PORT}:localhost:${JUPYTER_PORT} ec2-user@HOST`,
      `then open http://localhost:${JUPYTER_PORT}/lab with the token that  ssh -i ${pem} ec2-user@HOST cat ${JUPYTER_TOKEN_FILE}  prints.`,
      'PuTTY: Connection > SSH > Tunnels, source port 8888, destination localhost:8888, Add.',
    );
  }
  if (facts.notebookPort !== undefined) {
    steps.add(
      `Jupyter: start it with --ip=0.0.0.0 --port=${facts.notebookPort} and open http://HOST:${facts.notebookPort}, or tunnel:`,
      `ssh -i ${pem} -L ${facts.notebookPort}:localhost:${facts.notebookPort} ec2-user@HOST`,
    );
  }
  if (console) {
    steps.add(
      'Stop it when you are done (idle instances are stopped for you after a warning): EC2 console > Instances >',
      'select it > Instance state > Stop instance. Start it again the same way (Start instance).',
    );
  } else {
    steps.add(
      'Stop it when you are done (idle instances are stopped for you after a warning):',
      `aws ec2 stop-instances ${r} --instance-ids i-...`,
      'Start it again later (your files are still there):',
      `aws ec2 start-instances ${r} --instance-ids i-...`,
    );
  }
  return steps.lines;
}

function watchdogSection(facts: HandoutFacts): string[] {
  const p = facts.policy;
  const idle = `it has run at least ${duration(p.idle.minRunningMinutes)} and, over the last ${duration(p.idle.windowHours * 60)}, used under ${p.idle.cpuPercent}% CPU on average and under ${p.idle.networkMB} MB of network traffic (under ${p.idle.gpuPercent}% GPU where that is measured)`;
  const rules = [`- idle: ${idle};`];
  const { freeTier, nonFreeTier } = p.maxRunningHours;
  if (freeTier !== null || nonFreeTier !== null) {
    const parts = [
      ...(freeTier !== null ? [`${freeTier} hours in a row (free-tier types)`] : []),
      ...(nonFreeTier !== null ? [`${nonFreeTier} hours in a row (other types)`] : []),
    ];
    rules.push(`- running too long: more than ${parts.join(' or ')}, however busy it is;`);
  }
  if (p.nonFreeTier.action === 'stop')
    rules.push('- not free tier: a type outside the free tier that the class does not allow;');
  if (p.budget.action === 'stop' && p.budget.monthlyUsd !== null)
    rules.push(`- over budget: the account's EC2 costs this month have reached $${p.budget.monthlyUsd};`);
  const email =
    facts.alerts.state === 'none'
      ? 'Your instructor gets the warning (no email subscription was set up for you).'
      : facts.alerts.state === 'pending'
        ? `The warning goes to ${facts.alerts.email}: click "Confirm subscription" in the email AWS sent you, or no warning reaches you.`
        : `The warning goes to ${facts.alerts.email}.`;
  const tomorrow = `${String(KEEP_UNTIL_LOCAL_TIME.hour).padStart(2, '0')}:${String(KEEP_UNTIL_LOCAL_TIME.minute).padStart(2, '0')}`;
  return [
    'What the cost watchdog does to your machine:',
    'It checks running instances regularly and warns about one when',
    ...rules,
    ...(p.nonFreeTier.action === 'notify'
      ? [
          '(a type outside the free tier is only reported to you and your instructor, not stopped for that alone).',
        ]
      : []),
    `${email} If the same reason still holds ${duration(p.graceMinutes)} later, the instance is stopped.`,
    'It is never terminated: your disk and files stay, and you can start it again.',
    ...(p.dryRun ? ['(For now the watchdog only reports: it stops nothing.)'] : []),
    '',
    'Keeping it running:',
    '- Working on it keeps it from being idle (a long computation counts; an open ssh window alone does not).',
    `- The warning email has links: keep it running ${KEEP_HOURS} more hours, keep it until tomorrow ${tomorrow} (${p.timeZone}),`,
    `  or stop it now. Each link works for ${LINK_VALIDITY_MS / 3_600_000} hours and only for that warning.`,
    '- For longer (an overnight run, a thesis experiment), ask your instructor: only they can exempt an instance.',
    "  Setting the watchdog's tags yourself is refused by your permissions.",
  ];
}

/**
 * The handout for one provisioned user: how they sign in, launch, fetch their key, connect (ssh on macOS/Linux,
 * Windows PowerShell, PuTTY), what the watchdog will do to their machine and how to keep it running.
 */
export function renderHandout(facts: HandoutFacts): string {
  const setup = facts.setup ?? 'none';
  return [
    `AWS handout for ${facts.user} (${facts.instanceType} in ${facts.region}${setup !== 'none' ? `, setup ${setup}` : ''}):`,
    ...(facts.costWarning ? [facts.costWarning] : []),
    '',
    ...signInSection(facts),
    '',
    'Your machine:',
    ...machineSection(facts),
    '',
    ...watchdogSection(facts),
  ].join('\n');
}
