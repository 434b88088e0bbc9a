import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { AwsTarget } from '../aws/clients.js';
import { describeError, InputError } from '../core/errors.js';
import { parseSetup } from '../core/provisioning/machine-setup.js';
import { outcomeLabel, type ResourceOutcome } from '../core/provisioning/outcome.js';
import {
  keyParameterName,
  parseRoster,
  parseUserRequest,
  RESULT_COLUMNS,
  resourceName,
  type RosterRow,
  toCsv,
} from '../core/provisioning/roster.js';
import { type DeprovisionResult, deprovisionUser } from '../jobs/provisioning/deprovision.js';
import {
  type ProvisionResult,
  type ProvisionSetup,
  provisionRoster,
} from '../jobs/provisioning/provision.js';
import { type ProvisionServices, sdkProvisionServices } from '../jobs/provisioning/services.js';
import { setAwsAccessCheck } from './aws-access.js';
import type { Command } from './command.js';
import { type Io, loadPolicy, topicArnOf } from './context.js';
import { handoutPath, writeHandoutFile } from './handout-file.js';
import { keyFileProblem, writePrivateKeyFile } from './key-file.js';

let servicesFor: (home: AwsTarget, topicArn?: string) => ProvisionServices = sdkProvisionServices;

/** For tests: build provisioning services this way instead of from SDK clients. */
export function setProvisionServices(
  factory: (home: AwsTarget, topicArn?: string) => ProvisionServices,
): void {
  servicesFor = factory;
  // Fake services reach no AWS: no credentials check with them (on again with the SDK services).
  setAwsAccessCheck(factory === sdkProvisionServices ? 'sts' : undefined);
}

function text(values: Record<string, unknown>, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

/** A user's overall status as a person reads it: `created`, or `would be created` in a dry run. */
function statusLabel(status: string, dryRun: boolean | undefined): string {
  if (!dryRun || status === 'failed' || status === 'refused') return status;
  return status === 'unchanged' ? 'unchanged' : `would be ${status}`;
}

function printOutcomes(resources: readonly ResourceOutcome[], io: Io): void {
  for (const res of resources) {
    io.out(
      `  ${res.resource.padEnd(17)} ${outcomeLabel(res).padEnd(12)} ${res.name}${res.id && res.id !== res.name ? ` (${res.id})` : ''}${res.detail ? `: ${res.detail}` : ''}`,
    );
  }
}

function printResult(r: ProvisionResult, io: Io, withHandout = true): void {
  io.out(`${r.user} (${r.region}): ${statusLabel(r.status, r.dryRun)}${r.error ? `: ${r.error}` : ''}`);
  printOutcomes(r.resources, io);
  if (r.instructions && withHandout) io.out(`\n${r.instructions}\n`);
}

const DRY_RUN_NOTE = 'Dry run: nothing was changed (no IAM, EC2, SSM or SNS write, no file written).';

/** Where a roster run's handouts go by default: next to the results CSV, `<name>-handouts/`. */
export function defaultHandoutDir(resultsPath: string): string {
  const name = basename(resultsPath)
    .replace(/\.csv$/i, '')
    .replace(/-results$/, '');
  return join(dirname(resultsPath), `${name || 'class'}-handouts`);
}

/** Students who have no way to sign in: they are told to ask, and the instructor how to give them one. */
function noWayIn(results: readonly ProvisionResult[]): string[] {
  return results
    .filter(
      (r) =>
        r.status !== 'failed' && r.access?.kind === 'iam' && !r.access.consolePassword && !r.access.accessKey,
    )
    .map((r) => r.user);
}

function printSignIn(
  setup: ProvisionSetup,
  results: readonly ProvisionResult[],
  io: Io,
  keyFiles: boolean,
): void {
  if (setup.iamSkipped) return;
  if (results.some((r) => r.access?.consolePassword))
    io.out(
      `Console sign-in for the students: ${setup.signInUrl ?? '(the account id could not be looked up)'}`,
    );
  const consoleOnly = results.filter((r) => r.access?.consolePassword && !r.access.accessKey).length;
  if (consoleOnly > 0) {
    io.out(
      `Hand each console user their first password (aws ssm get-parameter --with-decryption --name /cost-watchdog/passwords/USER)${keyFiles ? ' and their key file' : ', and their private key: without an access key they cannot fetch it; write the key files with --key-dir DIR (or --key-file)'}.`,
    );
  }
  const none = noWayIn(results);
  if (none.length > 0) {
    io.out(
      `${none.length} user(s) have neither a console password nor an access key (${none.slice(0, 5).join(', ')}${none.length > 5 ? ', ...' : ''}): their handout tells them to ask you. Run again with --console-login (recommended) or --access-key.`,
    );
  }
}

/** `provision`: the baseline for one user or a whole roster. */
export const provisionCommand: Command = {
  name: 'provision',
  summary:
    'set up a user (or a class from a roster): IAM user, key pair, security group, launch template, alerts',
  usage: `cost-watchdog provision --user NAME --email ADDRESS --cidr CIDR [options]
cost-watchdog provision --roster class.csv [--results results.csv] [options]

Creates, idempotently, for each user: membership of the IAM group cost-watchdog-users
(guardrail: allowed types and regions only, launches tagged Owner=<user> from their own
key pair, security group and template, with the template's volume, image and IMDSv2 settings
pinned; no cost-watchdog:* tags; start/stop only their own instances; see docs/safety.md),
the IAM user (path /cost-watchdog/), an ed25519 key pair whose
private key is stored only in SSM SecureString /cost-watchdog/keys/<user>, a security group
in the default VPC with SSH (and the notebook port) from CIDR only, a launch template
(Amazon Linux 2023, free-tier type, IMDSv2, encrypted gp3 root, standard CPU credits), and an email subscription
to the alerts about their own instances. Running it again changes nothing ("unchanged"),
except that it repairs what was changed by hand (a security group opened to the world).
With --dry-run it changes nothing at all and shows, per resource, what it would do
(would create / would update / would repair / unchanged).

Each user gets a handout: how to sign in (console password, access key, or what to ask
you for), launch, fetch the key, connect with ssh, Windows PowerShell or PuTTY, and what
the watchdog does to their machine. --user prints it; a roster run writes one file per
user. By default a user gets neither a console password nor an access key: pass
--console-login (recommended) or --access-key so that they can sign in.

  --user NAME          IAM user name (letters, digits, . _ -; starts with a letter)
  --email ADDRESS      where their alerts go (they must confirm the subscription email)
  --cidr CIDR          network allowed to SSH in, e.g. 203.0.113.7/32 (0.0.0.0/0 is refused)
  --type TYPE          instance type (default: the account's first free-tier type)
  --notebook-port N    also open this port (Jupyter: 8888) to the same CIDR
  --setup NAME         what instances are ready for on first boot: none (default),
                       datascience (Python, numpy, pandas, scikit-learn, JupyterLab on
                       localhost:8888, reached through an SSH tunnel) or gpu (the same on
                       the AWS Deep Learning AMI; default type g4dn.xlarge, NOT free tier).
                       Not --profile: that is the AWS credentials profile.
  --no-iam             create no IAM group, user, password or access key (lab accounts
                       that forbid IAM users); everything else is still done. Happens on
                       its own, with a note, when IAM denies the first call
  --allow-anywhere     accept 0.0.0.0/0 or ::/0 as CIDR (not recommended)
  --console-login      give users without one a console password (reset at first
                       sign-in), stored in SSM SecureString /cost-watchdog/passwords/<user>;
                       prints the account's console sign-in URL
  --access-key         give users without one an access key (secret stored in SSM
                       /cost-watchdog/access-keys/<user>); off by default
  --key-file FILE      also write the user's private key to FILE (a new file, mode 0600;
                       an existing file or symbolic link there is refused)
  --roster FILE        CSV with columns user,email,cidr[,type] (header optional; also
                       notebook_port, region, setup when named in a header)
  --results FILE       results CSV of a roster run (default: <roster>-results.csv):
                       user,status,key_parameter,launch_template_id,error
  --key-dir DIR        roster: write each private key to DIR/cost-watchdog-<user>.pem (new
                       files, 0600; existing files or links there are refused)
  --handout-dir DIR    write each user's handout to DIR/<user>.txt (mode 0600; default
                       for a roster: <results>-handouts/ next to the results CSV)
  --dry-run            change nothing; show what would be created, updated, repaired
  --topic-arn ARN      the stack's alert topic (default: $TOPIC_ARN; none = no subscriptions)

Progress goes to stderr. Exit status 1 when any user failed (the others are still done).

Examples:
  cost-watchdog provision --user alice --email alice@example.edu --cidr 203.0.113.7/32 --key-file alice.pem
  cost-watchdog provision --roster class.csv --results class-results.csv --console-login --region eu-west-1
  cost-watchdog provision --roster class.csv --dry-run`,
  options: {
    user: { type: 'string' },
    email: { type: 'string' },
    cidr: { type: 'string' },
    type: { type: 'string' },
    'notebook-port': { type: 'string' },
    setup: { type: 'string' },
    'no-iam': { type: 'boolean', default: false },
    'allow-anywhere': { type: 'boolean', default: false },
    'console-login': { type: 'boolean', default: false },
    'access-key': { type: 'boolean', default: false },
    'key-file': { type: 'string' },
    'key-dir': { type: 'string' },
    'handout-dir': { type: 'string' },
    roster: { type: 'string' },
    results: { type: 'string' },
    'topic-arn': { type: 'string' },
  },
  async run({ values, common, io }) {
    const policy = loadPolicy(common);
    const rosterPath = text(values, 'roster');
    let rows: RosterRow[];
    if (rosterPath !== undefined) {
      if (text(values, 'user') !== undefined)
        throw new InputError('--roster', 'give either --roster or --user, not both');
      if (text(values, 'key-file') !== undefined)
        throw new InputError('--key-file', 'is for one user; with --roster use --key-dir');
      let content: string;
      try {
        content = readFileSync(rosterPath, 'utf8');
      } catch (err) {
        throw new InputError('--roster', `cannot read ${rosterPath}: ${(err as Error).message}`);
      }
      rows = parseRoster(content);
      if (rows.length === 0)
        throw new InputError('--roster', `${rosterPath} has no rows (columns: user,email,cidr[,type])`);
      // --setup is the default of rows whose setup column is empty.
      const defaultSetup = parseSetup(text(values, 'setup'), '--setup');
      if (defaultSetup !== 'none') {
        rows = rows.map((row) =>
          row.ok && row.request.setup === undefined
            ? { ...row, request: { ...row.request, setup: defaultSetup } }
            : row,
        );
      }
    } else {
      if (text(values, 'user') === undefined) {
        throw new InputError('--user', 'is required (or --roster FILE); see cost-watchdog provision --help');
      }
      const request = parseUserRequest({
        user: text(values, 'user'),
        email: text(values, 'email') ?? '',
        cidr: text(values, 'cidr') ?? '',
        ...(text(values, 'type') ? { type: text(values, 'type') } : {}),
        ...(text(values, 'notebook-port') ? { notebookPort: text(values, 'notebook-port') } : {}),
        ...(text(values, 'setup') ? { setup: text(values, 'setup') } : {}),
        ...(values['allow-anywhere'] === true ? { allowAnywhere: true } : {}),
      });
      rows = [{ line: 1, user: request.user, ok: true, request }];
    }
    const topicArn = topicArnOf(values, io.env);
    // Private keys leave SSM only on request, into new 0600 files: refuse taken paths before anything is made.
    const keyFile = text(values, 'key-file');
    const keyDir = text(values, 'key-dir');
    const keyFlag = keyFile !== undefined ? '--key-file' : '--key-dir';
    const keyTarget = (user: string) =>
      keyFile ?? (keyDir !== undefined ? join(keyDir, `${resourceName(user)}.pem`) : undefined);
    for (const row of rows) {
      const target = row.ok ? keyTarget(row.user) : undefined;
      const problem = target === undefined ? undefined : keyFileProblem(target, keyFlag);
      if (problem) throw problem;
    }
    const dryRun = common.dryRun;
    const resultsPath =
      rosterPath === undefined
        ? undefined
        : (text(values, 'results') ?? rosterPath.replace(/(\.csv)?$/i, '-results.csv'));
    const handoutDir =
      text(values, 'handout-dir') ?? (resultsPath !== undefined ? defaultHandoutDir(resultsPath) : undefined);
    const services = servicesFor(common.home, topicArn);
    if (keyDir !== undefined && !dryRun && !existsSync(keyDir))
      mkdirSync(keyDir, { recursive: true, mode: 0o700 });

    const { setup, results } = await provisionRoster(
      rows,
      {
        services,
        policy,
        homeRegion: common.home.region,
        consoleLogin: values['console-login'] === true,
        accessKey: values['access-key'] === true,
        skipIam: values['no-iam'] === true,
        dryRun,
      },
      (done, total, r) => {
        if (rows.length > 1)
          io.err(
            `[${done}/${total}] ${r.user || '(no name)'}: ${statusLabel(r.status, r.dryRun)}${r.error ? ` (${r.error})` : ''}`,
          );
      },
    );

    // Files: private keys (only on request), handouts and the results CSV. A dry run writes none of them.
    let filesNotWritten = 0;
    for (const r of dryRun ? [] : results) {
      if (r.status === 'failed' || !r.keyParameter) continue;
      const target = keyTarget(r.user);
      if (target === undefined) continue;
      const key = await services.ssm(r.region).readSecret(keyParameterName(r.user));
      if (key === undefined) {
        io.err(`${r.user}: private key not found in SSM ${r.keyParameter}; not written`);
        continue;
      }
      try {
        writePrivateKeyFile(target, key, keyFlag);
        io.err(`${r.user}: private key written to ${target} (mode 0600)`);
      } catch (err) {
        // Taken between the check above and now: this key stays in SSM only; the others are still written.
        if (!(err instanceof InputError)) throw err;
        filesNotWritten++;
        io.err(`${r.user}: ${err.message}. The key stays in SSM ${r.keyParameter}`);
      }
    }
    const handouts = results.filter((r) => r.status !== 'failed' && r.instructions !== undefined);
    if (handoutDir !== undefined && !dryRun && handouts.length > 0) {
      let written = 0;
      for (const r of handouts) {
        try {
          if (writeHandoutFile(handoutDir, r.user, r.instructions ?? '') === 'written') written++;
        } catch (err) {
          filesNotWritten++;
          io.err(
            `${r.user}: handout not written to ${handoutPath(handoutDir, r.user)}: ${describeError(err)}`,
          );
        }
      }
      io.err(
        `handouts in ${handoutDir}: ${written} written, ${handouts.length - written} unchanged (one file per user, mode 0600)`,
      );
    }
    if (resultsPath !== undefined && !dryRun) {
      writeFileSync(
        resultsPath,
        toCsv(
          RESULT_COLUMNS,
          results.map((r) => [
            r.user,
            r.status,
            r.keyParameter ?? '',
            r.launchTemplateId ?? '',
            r.error ?? '',
          ]),
        ),
      );
      io.err(`results written to ${resultsPath}`);
    }

    const failed = results.filter((r) => r.status === 'failed').length;
    if (common.json) {
      io.out(JSON.stringify({ dryRun, group: setup.group, results }, null, 2));
    } else if (rosterPath !== undefined) {
      const count = (s: string) => results.filter((r) => r.status === s).length;
      const would = dryRun ? 'would be ' : '';
      io.out(
        `${results.length} user(s): ${count('created')} ${would}created, ${count('updated')} ${would}updated, ${count('unchanged')} unchanged, ${failed} failed.`,
      );
      if (dryRun) {
        io.out(`group ${setup.group.name}: ${outcomeLabel(setup.group)}`);
        for (const r of results.filter((r) => r.status !== 'failed')) printResult(r, io, false);
        if (handoutDir !== undefined) io.out(`Handouts would be written to ${handoutDir}.`);
      }
      if (setup.iamSkipped) io.out(`skipped: IAM user and group (${setup.iamSkipped})`);
      const costly = results.filter((r) => r.costWarning);
      for (const r of costly) io.out(`  ${r.user}: ${r.costWarning}`);
      for (const r of results.filter((r) => r.status === 'failed'))
        io.out(`  ${r.user || '(no name)'}: ${r.error}`);
      printSignIn(setup, results, io, keyFile !== undefined || keyDir !== undefined);
    } else {
      io.out(`group ${setup.group.name}: ${outcomeLabel(setup.group)} (${setup.group.detail})`);
      for (const r of results) printResult(r, io);
      printSignIn(setup, results, io, keyFile !== undefined || keyDir !== undefined);
      if (handoutDir !== undefined && !dryRun && handouts.length > 0)
        io.out(`Handout written to ${handoutPath(handoutDir, handouts[0]?.user ?? '')}.`);
    }
    if (dryRun && !common.json) io.out(DRY_RUN_NOTE);
    return failed > 0 || filesNotWritten > 0 ? 1 : 0;
  },
};

function printDeprovision(r: DeprovisionResult, io: Io): void {
  io.out(`${r.user} (${r.region}): ${statusLabel(r.status, r.dryRun)}${r.error ? `: ${r.error}` : ''}`);
  printOutcomes(r.resources, io);
  if (r.dryRun) io.out(DRY_RUN_NOTE);
}

/** `deprovision`: removes what provision created for one user. */
export const deprovisionCommand: Command = {
  name: 'deprovision',
  summary: "remove a user's baseline (refuses while they have running instances)",
  usage: `cost-watchdog deprovision USER [--stop-instances] [--dry-run] [--topic-arn ARN] [options]

Removes, in reverse order, what provision created for USER: the alert subscription, the
launch template, the security group, the key pair and its SSM parameter, the console
password, access keys and the IAM user. Only resources with the cost-watchdog:managed tag
or the /cost-watchdog/ path are deleted; the group cost-watchdog-users stays.
Refuses while USER has running instances.

  --stop-instances   stop USER's running instances first (they are never terminated;
                     each records why and that deprovision stopped it; the security
                     group stays while stopped instances still use it)
  --no-iam           leave IAM alone (lab accounts: provision created no IAM user)
  --dry-run          change nothing; show what would be deleted, kept or stopped
  --topic-arn ARN    the stack's alert topic (default: $TOPIC_ARN)`,
  options: {
    'stop-instances': { type: 'boolean', default: false },
    'no-iam': { type: 'boolean', default: false },
    'topic-arn': { type: 'string' },
  },
  positionals: true,
  async run({ values, positionals, common, io }) {
    if (positionals.length !== 1)
      throw new InputError('USER', 'give exactly one user name: cost-watchdog deprovision USER');
    const policy = loadPolicy(common);
    const topicArn = topicArnOf(values, io.env);
    const services = servicesFor(common.home, topicArn);
    const result = await deprovisionUser(positionals[0] as string, {
      services,
      policy,
      region: common.home.region,
      stopInstances: values['stop-instances'] === true,
      skipIam: values['no-iam'] === true,
      dryRun: common.dryRun,
    });
    if (common.json) io.out(JSON.stringify(result, null, 2));
    else printDeprovision(result, io);
    return result.status === 'removed' ? 0 : 1;
  },
};
