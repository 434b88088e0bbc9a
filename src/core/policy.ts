import { parseDocument } from 'yaml';
import * as z from 'zod';
import { PolicyError, printable } from './errors.js';

// The names and tag keys live in names.ts (no imports, nothing to load) and are part of the policy's vocabulary.
import { TAGS } from './names.js';

export {
  AWS_MANAGED_TAGS,
  FORGEABLE_MANAGED_TAG_PREFIXES,
  FORGEABLE_MANAGED_TAGS,
  NAMES,
  RESOURCE_KINDS,
  type ResourceKind,
  TAGS,
} from './names.js';
import { RESOURCE_KINDS } from './names.js';

/** Commercial AWS regions (and GovCloud/China, which a policy may name when the account is there). */
export const KNOWN_REGIONS = [
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
  'af-south-1',
  'ap-east-1',
  'ap-east-2',
  'ap-south-1',
  'ap-south-2',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-southeast-3',
  'ap-southeast-4',
  'ap-southeast-5',
  'ap-southeast-6',
  'ap-southeast-7',
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-northeast-3',
  'ca-central-1',
  'ca-west-1',
  'eu-central-1',
  'eu-central-2',
  'eu-west-1',
  'eu-west-2',
  'eu-west-3',
  'eu-south-1',
  'eu-south-2',
  'eu-north-1',
  'il-central-1',
  'me-south-1',
  'me-central-1',
  'mx-central-1',
  'sa-east-1',
  'us-gov-east-1',
  'us-gov-west-1',
  'cn-north-1',
  'cn-northwest-1',
] as const;

const knownRegionSet = new Set<string>(KNOWN_REGIONS);

/** True when `name` is a region this tool knows. */
export function isKnownRegion(name: string): boolean {
  return knownRegionSet.has(name);
}

const region = z.string().refine(isKnownRegion, {
  message: 'unknown region (allowed: an AWS region name such as us-east-1, eu-west-1; or the word "all")',
});

/**
 * A tag key as AWS allows it (letters, digits, spaces and _ . : / = + - @; not aws:). It reaches IAM condition
 * keys of the guardrail and a quoted shell argument of the connection instructions, so nothing else may pass.
 */
const tagKey = z
  .string()
  .min(1)
  .max(128)
  .regex(/^(?!aws:)[\p{L}\p{Z}\p{N}_.:/=+\-@]+$/iu, {
    message: 'not a tag key AWS accepts: letters, digits, spaces and _ . : / = + - @ only, not starting aws:',
  });

const schedule = z.string().regex(/^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$/, {
  message: 'must be an EventBridge expression such as "rate(1 hour)" or "cron(0 8 * * ? *)"',
});

const instanceType = z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, {
  message: 'must be an EC2 instance type such as t3.micro',
});

const timeZone = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  {
    error: (issue) =>
      `unknown time zone "${printable(issue.input)}" (allowed: an IANA name such as UTC, Europe/Berlin, America/New_York)`,
  },
);

/** Days of the week as quiet-hours windows name them, in JavaScript's order (getUTCDay: 0 = Sunday). */
export const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

/** A day of the week. */
export type DayName = (typeof DAY_NAMES)[number];

const FULL_DAY_NAMES = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

const DAYS_ALLOWED = ' (allowed: mon, tue, wed, thu, fri, sat, sun, or the full English names)';

/** A day name: mon..sun or monday..sunday, any case; kept as mon..sun. */
const dayName = z
  .string({ error: (issue) => `${quoted(issue.input)} is not a day of the week${DAYS_ALLOWED}` })
  .transform((value, ctx): DayName => {
    const v = value.trim().toLowerCase();
    const i = DAY_NAMES.indexOf(v as DayName);
    const j = FULL_DAY_NAMES.indexOf(v);
    const k = i >= 0 ? i : j;
    if (k < 0) {
      ctx.addIssue({ code: 'custom', message: `${quoted(value)} is not a day of the week${DAYS_ALLOWED}` });
      return z.NEVER;
    }
    return DAY_NAMES[k] as DayName;
  });

/** A time of day "HH:MM" (24-hour clock, local time); `upTo24` also allows "24:00" (the end of the day). */
function clockTime(upTo24: boolean) {
  const allowed = `a time of day "HH:MM" on the 24-hour clock such as "07:00" or "22:30"${upTo24 ? ', or "24:00" for the end of the day' : ''}; quote it in YAML`;
  return z
    .string({ error: (issue) => `${quoted(issue.input)} is not ${allowed}` })
    .refine((v) => /^([01]\d|2[0-3]):[0-5]\d$/.test(v) || (upTo24 && v === '24:00'), {
      error: (issue) => `${quoted(issue.input)} is not ${allowed}`,
    });
}

/** A value quoted for an error message (never more than one clean line). */
function quoted(value: unknown): string {
  return value === undefined
    ? 'nothing'
    : typeof value === 'string'
      ? `"${printable(value)}"`
      : printable(JSON.stringify(value));
}

/** Minutes since midnight of an "HH:MM" time (validated by the schema). */
export function minutesOfDay(time: string): number {
  const [h = '0', m = '0'] = time.split(':');
  return Number(h) * 60 + Number(m);
}

/** One quiet-hours window: on these days, from this local time to that one (the next day when it is earlier). */
const quietWindow = z
  .object({
    /** Days the window starts on (a window from 22:00 to 07:00 on fri ends on Saturday morning). */
    days: z
      .array(dayName)
      .min(1)
      .default([...DAY_NAMES]),
    from: clockTime(false),
    /** Earlier than (or equal to midnight after) `from`: the window ends the next day. "24:00" = the end of the day. */
    to: clockTime(true),
    /** IANA time zone of `from` and `to`; absent = the owner's (quietHours.ownerTimeZones), else the policy's timeZone. */
    timeZone: timeZone.optional(),
  })
  .strict()
  .superRefine((w, ctx) => {
    if (minutesOfDay(w.from) === minutesOfDay(w.to)) {
      ctx.addIssue({
        code: 'custom',
        path: ['to'],
        message: `"${w.to}" is the same time as from "${w.from}": a window needs a length (a whole day is from "00:00" to "24:00")`,
      });
    }
  })
  .transform((w) => ({ ...w, days: [...new Set(w.days)] }));

/** An owner name as the owner tag holds it. */
const ownerName = z.string().min(1).max(256);

/** An AMI owner as the ec2:Owner condition key names it. */
const imageOwner = z.string().regex(/^(amazon|aws-marketplace|\d{12})$/, {
  message: 'must be amazon, aws-marketplace or a 12-digit AWS account id',
});

const imageId = z.string().regex(/^ami-([0-9a-f]{8}|[0-9a-f]{17})$/, {
  message: 'must be an AMI id such as ami-0123456789abcdef0',
});

const hours = z
  .number()
  .positive()
  .max(24 * 366);
const percent = z.number().min(0).max(100);

/** A SageMaker notebook instance type such as ml.t3.medium. */
const notebookType = z.string().regex(/^ml\.[a-z][a-z0-9-]*\.[a-z0-9]+$/, {
  message: 'must be a SageMaker notebook instance type such as ml.t3.medium',
});

/** An RDS DB instance class such as db.t3.micro. */
const databaseClass = z.string().regex(/^db\.[a-z][a-z0-9-]*\.[a-z0-9]+$/, {
  message: 'must be an RDS DB instance class such as db.t3.micro',
});

/**
 * What a resource kind (notebooks, databases) may set differently from EC2: each key absent = the EC2 key of the
 * same name (policyForKind() in src/core/kinds.ts applies them).
 */
const kindOverrides = {
  /** Watch this kind at all. On by default: a watchdog that must be switched on misses what it exists for. */
  enabled: z.boolean().default(true),
  graceMinutes: z
    .number()
    .int()
    .min(5)
    .max(7 * 24 * 60)
    .optional(),
  maxRunningHours: z
    .object({ freeTier: hours.nullable().optional(), nonFreeTier: hours.nullable().optional() })
    .strict()
    .prefault({}),
};

/** The idle window keys every kind shares. */
const kindIdleWindow = {
  windowHours: z
    .number()
    .min(0.5)
    .max(24 * 14)
    .optional(),
  minRunningMinutes: z
    .number()
    .int()
    .min(0)
    .max(24 * 60 * 14)
    .optional(),
};

/**
 * Targets above which `fanOut.mode: auto` fans out: more than one account has regions (AWS has about 37 today),
 * so a single account never fans out on auto, and 13 accounts x 4 regions do.
 */
export const FAN_OUT_THRESHOLD = 50;

/** The policy schema: every key of watchdog.yml with its default. Unknown keys are errors. */
export const policySchema = z
  .object({
    /** EventBridge schedule of the sweep. */
    schedule: schedule.default('rate(1 hour)'),
    /** Regions to sweep: "all" (every enabled region) or a list. */
    regions: z.union([z.literal('all'), z.array(region).min(1)]).default('all'),
    /** Report what would happen; tag, stop and email nothing. */
    dryRun: z.boolean().default(false),
    /** Minutes between the warning and the earliest stop. */
    graceMinutes: z
      .number()
      .int()
      .min(5)
      .max(7 * 24 * 60)
      .default(60),
    /** Time zone of every time a person reads (emails, keep/stop pages, plan, digest); JSON and tags stay ISO UTC. */
    timeZone: timeZone.default('UTC'),
    idle: z
      .object({
        /** Average CPUUtilization over the window below this is idle. */
        cpuPercent: percent.default(5),
        /** NetworkIn + NetworkOut over the whole window below this many MB is idle. */
        networkMB: z.number().min(0).max(1_000_000).default(5),
        /** Average GPU utilisation (CloudWatch agent) below this is idle, where the metric exists. */
        gpuPercent: percent.default(5),
        /** How far back to look. */
        windowHours: z
          .number()
          .min(0.5)
          .max(24 * 14)
          .default(2),
        /** Instances started more recently than this are never idle. */
        minRunningMinutes: z
          .number()
          .int()
          .min(0)
          .max(24 * 60 * 14)
          .default(60),
        /** Share (0..1) of the window's 5-minute datapoints that must exist; fewer = unknown, never idle. */
        minDatapointCoverage: z.number().gt(0).max(1).default(0.8),
      })
      .strict()
      .prefault({}),
    maxRunningHours: z
      .object({
        /** Free-tier instances running longer than this since their last start; null = no limit. */
        freeTier: hours.nullable().default(24),
        /** Other instances running longer than this since their last start; null = no limit. */
        nonFreeTier: hours.nullable().default(8),
      })
      .strict()
      .prefault({}),
    nonFreeTier: z
      .object({
        /** notify: alert only. stop: warn, then stop after the grace period. */
        action: z.enum(['notify', 'stop']).default('notify'),
        /** Instance types treated as allowed although not free-tier eligible. */
        allowedTypes: z.array(instanceType).default([]),
      })
      .strict()
      .prefault({}),
    tags: z
      .object({
        exempt: tagKey.default(TAGS.exempt),
        owner: tagKey.default(TAGS.owner),
      })
      .strict()
      .prefault({}),
    launchGuard: z
      .object({
        /** Alert on launches that break a rule. */
        enabled: z.boolean().default(true),
        /** With nonFreeTier.action stop: also stop at once instead of after the grace period. */
        immediate: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    /**
     * An instance of a provisioned user that starts with stop protection on (RunInstances --disable-api-stop):
     * alert = tell the admin within a minute, the watchdog never stops it; clear = turn stop protection off at
     * launch (launch guard) and treat it like any other instance.
     */
    stopProtection: z.enum(['alert', 'clear']).default('alert'),
    digest: z
      .object({
        schedule: schedule.default('cron(0 8 * * ? *)'),
        /** EBS snapshots older than this many days are listed with what they cost (never deleted). */
        oldSnapshotDays: z.number().int().min(1).max(3650).default(30),
      })
      .strict()
      .prefault({}),
    budget: z
      .object({
        /** This month's estimated EC2 cost above which the budget alert fires (also at 80%). null = off. */
        monthlyUsd: z.number().positive().max(10_000_000).nullable().default(null),
        /** notify: alert only. stop: warn every running non-exempt instance, stop after the grace. */
        action: z.enum(['notify', 'stop']).default('notify'),
      })
      .strict()
      .prefault({}),
    /**
     * SageMaker notebook instances. Idle = no kernel or terminal activity (the notebook's own tag, written by the
     * lifecycle configuration in provision/notebook/) for idle.windowHours; never judged from CPU.
     */
    notebooks: z
      .object({
        ...kindOverrides,
        idle: z.object(kindIdleWindow).strict().prefault({}),
        /**
         * Types treated as free tier: SageMaker's free tier gives 250 h a month of ml.t3.medium (ml.t2.medium
         * before it) in the first 2 months of SageMaker use, which the watchdog cannot see: remove them after that.
         */
        freeTierTypes: z.array(notebookType).default(['ml.t3.medium', 'ml.t2.medium']),
        /** Notebook types allowed although not free tier (nonFreeTier.allowedTypes for notebooks). */
        allowedTypes: z.array(notebookType).default([]),
      })
      .strict()
      .prefault({}),
    /**
     * RDS DB instances and Aurora / Multi-AZ DB clusters. Idle = no connections (DatabaseConnections maximum 0)
     * and CPU below idle.cpuPercent over idle.windowHours.
     */
    databases: z
      .object({
        ...kindOverrides,
        idle: z
          .object({
            ...kindIdleWindow,
            cpuPercent: percent.optional(),
            minDatapointCoverage: z.number().gt(0).max(1).optional(),
          })
          .strict()
          .prefault({}),
        /**
         * Classes treated as free tier (Single-AZ only): the legacy free tier's 750 h a month of db.t2/t3/t4g.micro
         * for 12 months after the account was created (accounts created before 2025-07-15; newer accounts get
         * credits instead). The watchdog cannot see the account's age: remove them when that year is over.
         */
        freeTierTypes: z.array(databaseClass).default(['db.t3.micro', 'db.t4g.micro', 'db.t2.micro']),
        /** DB classes allowed although not free tier (nonFreeTier.allowedTypes for databases). */
        allowedTypes: z.array(databaseClass).default([]),
      })
      .strict()
      .prefault({}),
    /** What the students' IAM guardrail (provision) lets them launch, besides types and regions. */
    guardrail: z
      .object({
        /**
         * Largest EBS volume (GiB) a student may launch with. Provision raises it to what its own templates need
         * (the gpu setup's Deep Learning AMI), never lowers it below that.
         */
        maxVolumeGiB: z.number().int().min(8).max(16_384).default(30),
        /** AMI owners (ec2:Owner) students may launch from; must include amazon (provision's templates). */
        imageOwners: z
          .array(imageOwner)
          .refine((owners) => owners.includes('amazon'), {
            message:
              'must include amazon: the launch templates provision makes use Amazon Linux and the Deep Learning AMI, both owned by amazon',
          })
          .default(['amazon']),
        /** AMI ids students may launch whatever their owner. */
        imageIds: z.array(imageId).default([]),
      })
      .strict()
      .prefault({}),
    /** Member accounts to sweep through an assumed role (besides this one). */
    accounts: z
      .array(
        z
          .object({
            id: z.string().regex(/^\d{12}$/, { message: 'must be a 12-digit AWS account id' }),
            roleName: z
              .string()
              .regex(/^[\w+=,.@-]{1,64}$/)
              .default('cost-watchdog-member'),
          })
          .strict(),
      )
      .default([]),
    /** Sweep every account of the AWS Organization (ListAccounts), assuming `memberRoleName` in each. */
    organization: z.boolean().default(false),
    memberRoleName: z
      .string()
      .regex(/^[\w+=,.@-]{1,64}$/)
      .default('cost-watchdog-member'),
    /**
     * CloudWatch API for the idle rule's metrics: auto = GetMetricStatistics (free up to 1M requests a month) while a
     * month of sweeps fits half of that, else GetMetricData (batched, no free tier). docs/costs.md.
     */
    metricsApi: z.enum(['auto', 'GetMetricStatistics', 'GetMetricData']).default('auto'),
    /**
     * Quiet hours (docs/quiet-hours.md): windows of the week when running instances are warned graceMinutes (+5)
     * before the window and stopped at its start, unless kept; optionally started again when it ends.
     */
    quietHours: z
      .object({
        /** The windows; none = no quiet hours. Overlapping and adjoining windows join into one quiet period. */
        windows: z.array(quietWindow).max(20).default([]),
        /**
         * The kinds of resource quiet hours cover: ec2, sagemaker-notebook, rds-instance, rds-cluster (names.ts
         * RESOURCE_KINDS). The morning start starts EC2 instances only.
         */
        kinds: z.array(z.enum(RESOURCE_KINDS)).min(1).default(['ec2']),
        /** stop: warn, then stop at the window's start. report: show in plan and the sweep report only. */
        action: z.enum(['stop', 'report']).default('stop'),
        /** Start again, when the window ends, the instances quiet hours stopped (only those). */
        morningStart: z.boolean().default(false),
        /** Owner (tags.owner value) -> IANA time zone: windows without a timeZone of their own follow it. */
        ownerTimeZones: z.record(ownerName, timeZone).default({}),
      })
      .strict()
      .prefault({}),
    /** Most regions x accounts swept at once. */
    concurrency: z.number().int().min(1).max(32).default(4),
    /**
     * Fan-out (docs/scale.md): one SQS message per account x region, swept by the sweep-worker function, summarised
     * by the scheduled sweep. auto = only with member accounts and more than `threshold` targets; a single account
     * never fans out on auto.
     */
    fanOut: z
      .object({
        /** auto: fan out above `threshold` targets (stacks with member accounts only); on: always; off: never. */
        mode: z.enum(['auto', 'on', 'off']).default('auto'),
        /** Targets (account x region pairs) above which `auto` fans out. */
        threshold: z.number().int().min(1).max(1_000_000).default(FAN_OUT_THRESHOLD),
        /** Worker invocations at once (the SQS trigger's maximum concurrency; Lambda allows 2 to 1,000). */
        concurrency: z.number().int().min(2).max(1_000).default(10),
        /** Targets one worker invocation sweeps at once (the SQS trigger's batch size, 1 to 10). */
        batchSize: z.number().int().min(1).max(10).default(10),
        /** Minutes after the schedule by which the summary goes out, with the targets still missing named. */
        settleMinutes: z.number().int().min(2).max(13).default(12),
      })
      .strict()
      .prefault({}),
  })
  .strict();

/** A validated policy with every default filled in. */
export type Policy = z.infer<typeof policySchema>;

/** The policy used when watchdog.yml sets nothing. */
export const DEFAULT_POLICY: Policy = policySchema.parse({});

/** Validates a parsed policy object; throws PolicyError naming each bad field and what is allowed. */
export function parsePolicy(input: unknown, source = 'policy'): Policy {
  if (input === null || input === undefined) return DEFAULT_POLICY;
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new PolicyError(`${source}: the policy must be a YAML mapping of keys (see watchdog.yml)`);
  }
  // reportInput: each issue carries the value it is about, so the message can quote it.
  const result = policySchema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  throw new PolicyError(`${source} is invalid; nothing was changed.`, result.error.issues.map(formatIssue));
}

/** The value an issue is about, quoted for a message ("; got ..."), or nothing when there is none. */
function got(issue: z.core.$ZodIssue): string {
  const value: unknown = issue.input;
  if (value === undefined) return '';
  const text = typeof value === 'string' ? `"${value}"` : JSON.stringify(value);
  return text === undefined ? '' : `; got ${printable(text)}`;
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const field = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') {
    const where = issue.path.length > 0 ? `${field}.` : '';
    return `${issue.keys.map((k) => where + k).join(', ')}: unknown key (check the spelling against watchdog.yml)`;
  }
  if (issue.code === 'invalid_value') {
    return `${field}: must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}${got(issue)}`;
  }
  if (issue.code === 'invalid_union' && issue.path.join('.') === 'regions') {
    return `regions: must be "all" or a list of AWS region names such as [us-east-1, eu-west-1]${got(issue)}`;
  }
  return `${field}: ${issue.message}${got(issue)}`;
}

/**
 * Parses and validates the text of a watchdog.yml. YAML syntax errors name the line; schema errors the field.
 * With `only`, the other top-level keys are left out first (the packaging reads just the keys it uses, and only
 * those are validated: the functions validate the whole file).
 */
export function parsePolicyText(text: string, source = 'watchdog.yml', only?: readonly string[]): Policy {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new PolicyError(
      `${source} is not valid YAML; nothing was changed.`,
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return `${pos ? `line ${pos.line}, column ${pos.col}` : 'somewhere'}: ${e.message.split('\n')[0]}`;
      }),
    );
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // The yaml library refuses alias chains that expand exponentially ("billion laughs").
    throw new PolicyError(
      `${source} cannot be read; nothing was changed.`,
      [`YAML anchors/aliases (&name / *name): ${(err as Error).message}; write the values out instead`],
      { cause: err },
    );
  }
  if (only && value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const all = value as Record<string, unknown>;
    value = Object.fromEntries(only.filter((k) => all[k] !== undefined).map((k) => [k, all[k]]));
  }
  return parsePolicy(value, source);
}
