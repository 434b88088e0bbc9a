/**
 * The event the launch guard answers: EventBridge's `EC2 Instance State-change Notification` (EC2 publishes it
 * without CloudTrail). The event is untrusted input: anything else is ignored with a reason in one clean line.
 */
import * as z from 'zod';
import { cleanLine } from './text.js';

/** The detail-type of the events the launch guard is for. */
export const STATE_CHANGE_DETAIL_TYPE = 'EC2 Instance State-change Notification';

const stateChangeEvent = z.object({
  source: z.literal('aws.ec2'),
  'detail-type': z.literal(STATE_CHANGE_DETAIL_TYPE),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/),
  account: z
    .string()
    .regex(/^\d{12}$/)
    .optional(),
  time: z.string().optional(),
  detail: z.object({
    'instance-id': z.string().regex(/^i-[0-9a-f]{8,17}$/),
    // EC2 states are short words (pending, running, ...); anything longer is not EC2's and is not logged whole.
    state: z.string().max(32),
  }),
});

/** What the event says: an instance entered `running`, or why the event is not one the guard acts on. */
export type StateChange =
  | { kind: 'running'; instanceId: string; region: string; account?: string }
  | { kind: 'ignored'; reason: string; instanceId?: string; malformed: boolean };

/** Reads an event; never throws. */
export function readStateChange(event: unknown): StateChange {
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
