/**
 * The events the launch guard answers: EventBridge's `EC2 Instance State-change Notification` (EC2 publishes it
 * without CloudTrail), `SageMaker Notebook Instance State Change` (InService) and RDS's `RDS DB Instance Event` /
 * `RDS DB Cluster Event` for a database that was created or started. The event is untrusted input: anything else
 * is ignored with a reason in one clean line.
 */
import * as z from 'zod';
import type { ResourceKind } from './instance.js';
import { cleanLine } from './text.js';

/** The detail-type of the events the launch guard is for. */
export const STATE_CHANGE_DETAIL_TYPE = 'EC2 Instance State-change Notification';

/** The detail-types of the notebook and database events the launch guard answers. */
export const NOTEBOOK_STATE_DETAIL_TYPE = 'SageMaker Notebook Instance State Change';
export const DB_INSTANCE_EVENT_DETAIL_TYPE = 'RDS DB Instance Event';
export const DB_CLUSTER_EVENT_DETAIL_TYPE = 'RDS DB Cluster Event';

/**
 * RDS events that mean "a database now runs": created (0005 / 0170), started (0088 / 0151) and started by AWS after
 * 7 days stopped (0154 / 0153). The serverless.yml rule filters on these too.
 */
export const DB_STARTED_EVENT_IDS = {
  instance: ['RDS-EVENT-0005', 'RDS-EVENT-0088', 'RDS-EVENT-0154'],
  cluster: ['RDS-EVENT-0170', 'RDS-EVENT-0151', 'RDS-EVENT-0153'],
} as const;

const region = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/);

/** The account an event came from: a member account's when resources/forwarder.yml forwarded it. */
const account = z
  .string()
  .regex(/^\d{12}$/)
  .optional();

const notebookEvent = z.object({
  source: z.literal('aws.sagemaker'),
  'detail-type': z.literal(NOTEBOOK_STATE_DETAIL_TYPE),
  region,
  account,
  detail: z.object({
    NotebookInstanceName: z.string().regex(/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/),
    NotebookInstanceStatus: z.string().max(32),
  }),
});

const databaseEvent = z.object({
  source: z.literal('aws.rds'),
  'detail-type': z.enum([DB_INSTANCE_EVENT_DETAIL_TYPE, DB_CLUSTER_EVENT_DETAIL_TYPE]),
  region,
  account,
  detail: z.object({
    SourceIdentifier: z.string().regex(/^[a-zA-Z][a-zA-Z0-9-]{0,62}$/),
    EventID: z.string().max(32),
  }),
});

const stateChangeEvent = z.object({
  source: z.literal('aws.ec2'),
  'detail-type': z.literal(STATE_CHANGE_DETAIL_TYPE),
  region,
  account,
  time: z.string().optional(),
  detail: z.object({
    'instance-id': z.string().regex(/^i-[0-9a-f]{8,17}$/),
    // EC2 states are short words (pending, running, ...); anything longer is not EC2's and is not logged whole.
    state: z.string().max(32),
  }),
});

/**
 * What the event says: an instance (notebook, database: `resource`, absent = EC2) entered `running`, or why the
 * event is not one the guard acts on.
 */
export type StateChange =
  | {
      kind: 'running';
      instanceId: string;
      region: string;
      /** The account the event came from (a forwarded member launch), when it says. */
      account?: string;
      resource?: Exclude<ResourceKind, 'ec2'>;
    }
  | { kind: 'ignored'; reason: string; instanceId?: string; malformed: boolean };

/** Reads a notebook or database event, or null when the event is not from SageMaker or RDS. */
function readKindEvent(event: unknown): StateChange | null {
  const source = (event as { source?: unknown } | null)?.source;
  if (source === 'aws.sagemaker') {
    const parsed = notebookEvent.safeParse(event);
    if (!parsed.success) return ignoredMalformed('a SageMaker notebook state-change event', parsed.error);
    const { NotebookInstanceName: instanceId, NotebookInstanceStatus: status } = parsed.data.detail;
    if (status !== 'InService') {
      return {
        kind: 'ignored',
        instanceId,
        reason: `status ${cleanLine(status)}, not InService`,
        malformed: false,
      };
    }
    return {
      kind: 'running',
      instanceId,
      region: parsed.data.region,
      ...(parsed.data.account ? { account: parsed.data.account } : {}),
      resource: 'sagemaker-notebook',
    };
  }
  if (source === 'aws.rds') {
    const parsed = databaseEvent.safeParse(event);
    if (!parsed.success) return ignoredMalformed('an RDS DB instance or cluster event', parsed.error);
    const cluster = parsed.data['detail-type'] === DB_CLUSTER_EVENT_DETAIL_TYPE;
    const { SourceIdentifier: instanceId, EventID: id } = parsed.data.detail;
    const started: readonly string[] = cluster ? DB_STARTED_EVENT_IDS.cluster : DB_STARTED_EVENT_IDS.instance;
    if (!started.includes(id)) {
      return { kind: 'ignored', instanceId, reason: `event ${cleanLine(id)}, not a start`, malformed: false };
    }
    return {
      kind: 'running',
      instanceId,
      region: parsed.data.region,
      ...(parsed.data.account ? { account: parsed.data.account } : {}),
      resource: cluster ? 'rds-cluster' : 'rds-instance',
    };
  }
  return null;
}

function ignoredMalformed(what: string, error: z.ZodError): StateChange {
  const issue = error.issues[0];
  const reason = cleanLine(
    `not ${what}: ${issue ? `${issue.path.join('.') || '(event)'}: ${issue.message}` : 'invalid'}`,
  );
  return { kind: 'ignored', reason, malformed: true };
}

/** Reads an event; never throws. */
export function readStateChange(event: unknown): StateChange {
  const other = readKindEvent(event);
  if (other) return other;
  const parsed = stateChangeEvent.safeParse(event);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // The path and message may quote the event's own keys and values: one clean line.
    const reason = cleanLine(
      `not an EC2 state-change event: ${issue ? `${issue.path.join('.') || '(event)'}: ${issue.message}` : 'invalid'}`,
    );
    return { kind: 'ignored', reason, malformed: true };
  }
  const { detail, region, account } = parsed.data;
  const instanceId = detail['instance-id'];
  if (detail.state !== 'running') {
    return {
      kind: 'ignored',
      instanceId,
      reason: `state ${cleanLine(detail.state)}, not running`,
      malformed: false,
    };
  }
  return { kind: 'running', instanceId, region, ...(account ? { account } : {}) };
}

/** An ignored event for the log: its JSON as one clean line of at most 2,000 characters. */
export function eventForLog(event: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(event) ?? String(event);
  } catch {
    text = String(event);
  }
  return cleanLine(text, 2000);
}
