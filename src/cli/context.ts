import { existsSync } from 'node:fs';
import type { ParseArgsConfig } from 'node:util';
import type { CommonFlag } from './command.js';
import type { AwsTarget } from '../aws/clients.js';
import { InputError, printable } from '../core/errors.js';
import { isKnownRegion, KNOWN_REGIONS, type Policy } from '../core/policy.js';
import { closest } from '../core/suggest.js';
import { DEFAULT_POLICY_FILE, readPolicyFile } from '../jobs/policy-file.js';

/** Where a command writes; tests capture it. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
}

/** Flags shared by the commands; each command takes the ones it names (Command.common), plus --verbose and --help. */
export const COMMON_OPTIONS = {
  region: { type: 'string', multiple: true },
  'endpoint-url': { type: 'string' },
  profile: { type: 'string' },
  policy: { type: 'string' },
  at: { type: 'string' },
  json: { type: 'boolean', default: false },
  'dry-run': { type: 'boolean', default: false },
  verbose: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

/** Every common flag a command can take, in the order help lists them. */
export const ALL_COMMON_FLAGS: readonly CommonFlag[] = [
  'region',
  'endpoint-url',
  'profile',
  'policy',
  'at',
  'json',
  'dry-run',
];

/** Help lines of each common flag. */
const FLAG_HELP: Record<CommonFlag | 'verbose' | 'help', string> = {
  region: `  --region NAME         region(s) to work in; repeat or comma-separate (default: the policy's regions;
                        the home region is the first --region, else AWS_REGION, else us-east-1)`,
  'endpoint-url':
    '  --endpoint-url URL    send every AWS call to this endpoint (an emulator such as moto on 127.0.0.1)',
  profile: '  --profile NAME        AWS credentials profile (as in ~/.aws/config)',
  policy: '  --policy FILE         policy file (default: ./watchdog.yml if present, else built-in defaults)',
  at: '  --at ISO-TIME         evaluate as if it were this time, e.g. 2026-11-25T14:00:00Z',
  json: '  --json                print JSON instead of text (errors too: {"error": ...} on stdout)',
  'dry-run': '  --dry-run             change nothing: no tags, no stops, no email',
  verbose: '  --verbose             show error details',
  help: '  -h, --help            show help',
};

/** Help text for the common flags `flags` (plus --verbose and --help). */
export function commonHelp(flags: readonly CommonFlag[] = ALL_COMMON_FLAGS): string {
  const listed = ALL_COMMON_FLAGS.filter((f) => flags.includes(f));
  return [
    'Common options:',
    ...[...listed, 'verbose' as const, 'help' as const].map((f) => FLAG_HELP[f]),
  ].join('\n');
}

/** The parseArgs options of the common flags `flags` (plus --verbose and --help). */
export function commonOptions(flags: readonly CommonFlag[]): ParseArgsConfig['options'] {
  const out: NonNullable<ParseArgsConfig['options']> = {
    verbose: COMMON_OPTIONS.verbose,
    help: COMMON_OPTIONS.help,
  };
  for (const f of flags) out[f] = COMMON_OPTIONS[f];
  return out;
}

/** Parsed common flags, validated. */
export interface Common {
  regions?: string[];
  home: AwsTarget;
  at?: Date;
  json: boolean;
  dryRun: boolean;
  verbose: boolean;
  policyPath?: string;
}

/** Validates the common flags; bad values throw an InputError naming the flag and the fix. */
export function readCommon(values: Record<string, unknown>, io: Io): Common {
  const regions = ((values.region as string[] | undefined) ?? [])
    .flatMap((r) => r.split(','))
    .map((r) => r.trim())
    .filter((r) => r !== '');
  for (const r of regions) {
    if (!isKnownRegion(r)) {
      const near = closest(r, KNOWN_REGIONS);
      throw new InputError(
        '--region',
        `unknown region "${printable(r)}"${near ? `: did you mean ${near}?` : ''} (use an AWS region name such as us-east-1 or eu-west-1)`,
      );
    }
  }
  let at: Date | undefined;
  if (typeof values.at === 'string') {
    const ms = Date.parse(values.at);
    if (!/^\d{4}-\d{2}-\d{2}/.test(values.at) || !Number.isFinite(ms)) {
      throw new InputError(
        '--at',
        `"${printable(values.at)}" is not an ISO time; use e.g. 2026-11-25T14:00:00Z`,
      );
    }
    at = new Date(ms);
  }
  const endpoint = (values['endpoint-url'] as string | undefined) ?? io.env.AWS_ENDPOINT_URL;
  if (endpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(endpoint)) {
    throw new InputError(
      '--endpoint-url',
      `"${printable(endpoint)}" is not a URL; use e.g. http://127.0.0.1:5000`,
    );
  }
  if (typeof values.profile === 'string') io.env.AWS_PROFILE = values.profile;
  const homeRegion = regions[0] ?? io.env.AWS_REGION ?? io.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  return {
    ...(regions.length > 0 ? { regions } : {}),
    home: { region: homeRegion, ...(endpoint ? { endpoint } : {}) },
    ...(at ? { at } : {}),
    json: values.json === true,
    dryRun: values['dry-run'] === true,
    verbose: values.verbose === true,
    ...(typeof values.policy === 'string' ? { policyPath: values.policy } : {}),
  };
}

/** The policy named by --policy (or ./watchdog.yml, or the defaults). */
export function loadPolicy(common: Common): Policy {
  return readPolicyFile(common.policyPath);
}

/** Where the policy of a run comes from, in words: "--policy strict.yml", "./watchdog.yml" or the defaults. */
export function policySource(common: Common): string {
  if (common.policyPath !== undefined) return common.policyPath;
  return existsSync(DEFAULT_POLICY_FILE)
    ? `./${DEFAULT_POLICY_FILE}`
    : `no ${DEFAULT_POLICY_FILE} here: the built-in defaults`;
}

/** The stack's SNS topic of `--topic-arn` (or TOPIC_ARN), checked before anything runs (sweep, provision, deprovision). */
export function topicArnOf(values: Record<string, unknown>, env: NodeJS.ProcessEnv): string | undefined {
  const topicArn = (values['topic-arn'] as string | undefined) ?? env.TOPIC_ARN;
  if (topicArn !== undefined && !/^arn:aws[\w-]*:sns:[\w-]+:\d{12}:[\w-]{1,256}$/.test(topicArn)) {
    throw new InputError(
      '--topic-arn',
      `"${printable(topicArn)}" is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME): use the stack output AlertTopicArn (cost-watchdog status shows the stack)`,
    );
  }
  return topicArn;
}
