import * as z from 'zod';
import { InputError } from './errors.js';
import type { Instance, InstanceMetrics, Point } from './instance.js';
import { cleanLine, cleanTagRecord, TEXT_CAPS } from './text.js';

/** Format tag of snapshot files written by `cost-watchdog snapshot` and read by `plan --snapshot`. */
export const SNAPSHOT_FORMAT = 'cost-watchdog-snapshot/1';

const point = z.tuple([z.iso.datetime({ offset: true }), z.number()]);
const series = z.array(point);

const snapshotInstance = z
  .object({
    instanceId: z.string().min(1),
    region: z.string().min(1),
    account: z.string().optional(),
    instanceType: z.string().min(1),
    launchTime: z.iso.datetime({ offset: true }),
    tags: z.record(z.string(), z.string()).default({}),
    lifecycle: z.string().optional(),
    rootDeviceType: z.string().default('ebs'),
    hibernationConfigured: z.boolean().optional(),
    stopProtected: z.boolean().optional(),
    publicIp: z.string().optional(),
    securityGroupIds: z.array(z.string()).optional(),
    operator: z.string().optional(),
    kind: z.enum(['ec2', 'sagemaker-notebook', 'rds-instance', 'rds-cluster']).optional(),
    arn: z.string().optional(),
    storageGb: z.number().nonnegative().optional(),
    storageType: z.string().optional(),
    engine: z.string().optional(),
    multiAz: z.boolean().optional(),
    cannotStop: z.string().optional(),
    restartedByAws: z.boolean().optional(),
    typeInfo: z
      .object({
        freeTierEligible: z.boolean().optional(),
        gpu: z.boolean().default(false),
        vcpus: z.number().optional(),
        memoryMiB: z.number().optional(),
        hibernationSupported: z.boolean().optional(),
        freeTierNote: z.string().optional(),
      })
      .strict()
      .optional(),
    /** Datapoints as [ISO time, value] pairs; absent = no metrics (never idle). */
    metrics: z
      .object({
        cpu: series,
        networkIn: series,
        networkOut: series,
        gpu: series.optional(),
        connections: series.optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const snapshotSchema = z
  .object({
    format: z.literal(SNAPSHOT_FORMAT),
    takenAt: z.iso.datetime({ offset: true }),
    description: z.string().optional(),
    instances: z.array(snapshotInstance),
  })
  .strict();

/** A snapshot file's content. */
export type SnapshotFile = z.input<typeof snapshotSchema>;

/** A recorded fleet: instances and their metrics at `takenAt`. */
export interface Snapshot {
  takenAt: Date;
  description?: string;
  fleet: { instance: Instance; metrics: InstanceMetrics | undefined }[];
}

/** Reads a snapshot (JSON text); errors name the JSON path that is wrong. */
export function parseSnapshot(text: string, source = 'snapshot'): Snapshot {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    // JSON.parse quotes the text around the fault: cleaned, as is the path (it may hold a tag key).
    throw new InputError(cleanLine(source), `not valid JSON (${cleanLine((err as Error).message)})`, {
      cause: err,
    });
  }
  const result = snapshotSchema.safeParse(raw);
  if (!result.success) {
    const first = result.error.issues[0];
    const path = first ? first.path.join('.') : '';
    throw new InputError(
      cleanLine(`${source}${path ? `: ${path}` : ''}`),
      `${cleanLine(first?.message ?? 'invalid')} (expected a file written by \`cost-watchdog snapshot\`, format "${SNAPSHOT_FORMAT}")`,
    );
  }
  const data = result.data;
  const toPoints = (s: [string, number][]): Point[] => s.map(([t, v]) => ({ at: Date.parse(t), value: v }));
  return {
    takenAt: new Date(data.takenAt),
    ...(data.description !== undefined ? { description: cleanLine(data.description) } : {}),
    fleet: data.instances.map(({ metrics, ...rest }) => {
      const instance = cleanInstance(stripUndefined(rest) as Instance);
      return {
        instance,
        metrics: metrics
          ? {
              cpu: toPoints(metrics.cpu),
              networkIn: toPoints(metrics.networkIn),
              networkOut: toPoints(metrics.networkOut),
              ...(metrics.gpu ? { gpu: toPoints(metrics.gpu) } : {}),
              ...(metrics.connections ? { connections: toPoints(metrics.connections) } : {}),
            }
          : undefined,
      };
    }),
  };
}

/** Writes a snapshot in the file format `parseSnapshot` reads. */
export function toSnapshotFile(snapshot: Snapshot): SnapshotFile {
  const toPairs = (ps: Point[]): [string, number][] => ps.map((p) => [new Date(p.at).toISOString(), p.value]);
  return {
    format: SNAPSHOT_FORMAT,
    takenAt: snapshot.takenAt.toISOString(),
    ...(snapshot.description !== undefined ? { description: snapshot.description } : {}),
    instances: snapshot.fleet.map(({ instance, metrics }) => ({
      ...instance,
      ...(metrics
        ? {
            metrics: {
              cpu: toPairs(metrics.cpu ?? []),
              networkIn: toPairs(metrics.networkIn ?? []),
              networkOut: toPairs(metrics.networkOut ?? []),
              ...(metrics.gpu ? { gpu: toPairs(metrics.gpu) } : {}),
              ...(metrics.connections ? { connections: toPairs(metrics.connections) } : {}),
            },
          }
        : {}),
    })),
  };
}

/**
 * A snapshot file is text anyone could have written (or edited): every string in it is cleaned as the EC2
 * adapter cleans what DescribeInstances returns, so `plan --snapshot` shows nothing a live plan would not.
 */
function cleanInstance(i: Instance): Instance {
  const line = (s: string) => cleanLine(s, TEXT_CAPS.name);
  return {
    ...i,
    instanceId: line(i.instanceId),
    region: line(i.region),
    ...(i.account !== undefined ? { account: line(i.account) } : {}),
    instanceType: line(i.instanceType),
    tags: cleanTagRecord(i.tags),
    ...(i.lifecycle !== undefined ? { lifecycle: line(i.lifecycle) } : {}),
    rootDeviceType: line(i.rootDeviceType),
    ...(i.publicIp !== undefined ? { publicIp: line(i.publicIp) } : {}),
    ...(i.securityGroupIds !== undefined ? { securityGroupIds: i.securityGroupIds.map(line) } : {}),
    ...(i.arn !== undefined ? { arn: line(i.arn) } : {}),
    ...(i.storageType !== undefined ? { storageType: line(i.storageType) } : {}),
    ...(i.engine !== undefined ? { engine: line(i.engine) } : {}),
    ...(i.cannotStop !== undefined ? { cannotStop: cleanLine(i.cannotStop, TEXT_CAPS.tagValue) } : {}),
    ...(i.typeInfo?.freeTierNote !== undefined
      ? { typeInfo: { ...i.typeInfo, freeTierNote: cleanLine(i.typeInfo.freeTierNote, TEXT_CAPS.tagValue) } }
      : {}),
  };
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
