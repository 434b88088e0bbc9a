/**
 * Writes examples/classroom.json: a small class's fleet, recorded as `cost-watchdog snapshot` would, for
 * `npm run demo` and the docs. Deterministic (no randomness), so the file only changes when this does.
 * Run: npx tsx scripts/make-classroom-snapshot.ts
 */
import { writeFileSync } from 'node:fs';
import type { InstanceMetrics, Point } from '../src/core/instance.js';
import { TAGS } from '../src/core/policy.js';
import { type Snapshot, toSnapshotFile } from '../src/core/snapshot.js';

const takenAt = new Date('2026-11-25T14:00:00Z');
const hour = 3_600_000;
const ago = (h: number) => new Date(takenAt.getTime() - h * hour).toISOString();

/** 3 hours of 5-minute datapoints; `cpu`/`net` give the value at step k (net in bytes per 5 minutes). */
function metrics(cpu: (k: number) => number, net: (k: number) => number): InstanceMetrics {
  const series = (f: (k: number) => number): Point[] =>
    Array.from({ length: 36 }, (_, k) => ({ at: takenAt.getTime() - (35 - k) * 300_000, value: f(k) }));
  return { cpu: series(cpu), networkIn: series(net), networkOut: series((k) => net(k) / 2) };
}

const free = { freeTierEligible: true, gpu: false, vcpus: 2, memoryMiB: 1024 };
const base = { region: 'us-east-1', rootDeviceType: 'ebs' };
const snapshot: Snapshot = {
  takenAt,
  description:
    'a data-science class of five students and a runner, on the free tier, with a SageMaker notebook and an RDS database',
  fleet: [
    {
      instance: {
        ...base,
        instanceId: 'i-0a11ce00000000001',
        instanceType: 't3.micro',
        launchTime: ago(3),
        tags: { Name: 'alice-notebook', Owner: 'alice' },
        typeInfo: free,
      },
      metrics: metrics(
        (k) => 35 + (k % 7) * 4,
        () => 40_000_000,
      ),
    },
    {
      instance: {
        ...base,
        instanceId: 'i-0b0b00000000000002',
        instanceType: 't3.micro',
        launchTime: ago(30),
        tags: { Name: 'bob-forgotten', Owner: 'bob', [TAGS.warnedAt]: ago(1.25), [TAGS.warnRule]: 'idle' },
        typeInfo: free,
      },
      metrics: metrics(
        (k) => 0.3 + (k % 3) * 0.05,
        () => 12_000,
      ),
    },
    {
      instance: {
        ...base,
        instanceId: 'i-0ca401000000000003',
        instanceType: 'g4dn.xlarge',
        launchTime: ago(5),
        tags: { Name: 'carol-gpu-training', Owner: 'carol' },
        typeInfo: { freeTierEligible: false, gpu: true, vcpus: 4, memoryMiB: 16384 },
      },
      metrics: metrics(
        () => 1.2,
        () => 90_000,
      ),
    },
    {
      instance: {
        ...base,
        instanceId: 'i-0da7e0000000000004',
        instanceType: 't3.small',
        launchTime: ago(50),
        tags: { Name: 'dave-thesis-run', Owner: 'dave', [TAGS.exempt]: 'true' },
        typeInfo: { ...free, memoryMiB: 2048 },
      },
      metrics: metrics(
        () => 0.8,
        () => 30_000,
      ),
    },
    {
      instance: {
        ...base,
        instanceId: 'i-0a5600000000000005',
        instanceType: 't3.micro',
        launchTime: ago(10),
        tags: { Name: 'grader-runner', 'aws:autoscaling:groupName': 'class-grader' },
        typeInfo: free,
      },
      metrics: metrics(
        () => 0.5,
        () => 20_000,
      ),
    },
    {
      instance: {
        ...base,
        instanceId: 'i-0e1e00000000000006',
        instanceType: 't3.micro',
        launchTime: ago(0.3),
        tags: { Name: 'erin-just-started', Owner: 'erin' },
        typeInfo: free,
      },
      metrics: metrics(
        () => 0,
        () => 0,
      ),
    },
    {
      instance: {
        ...base,
        instanceId: 'i-0f4a00000000000007',
        instanceType: 't3.micro',
        launchTime: ago(6),
        tags: { Name: 'frank-no-metrics', Owner: 'frank' },
        typeInfo: free,
      },
      metrics: undefined,
    },
    {
      // A notebook its lifecycle configuration says was last used 4 h ago (provision/notebook/on-start.sh).
      instance: {
        ...base,
        kind: 'sagemaker-notebook',
        instanceId: 'carol-course-notebook',
        instanceType: 'ml.t3.medium',
        launchTime: ago(6),
        tags: { Owner: 'carol', [TAGS.lastActivity]: ago(4) },
        arn: 'arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/carol-course-notebook',
        storageGb: 5,
        typeInfo: { gpu: false },
      },
      metrics: undefined,
    },
    {
      // A course-project database nobody has connected to since the morning.
      instance: {
        ...base,
        kind: 'rds-instance',
        instanceId: 'erin-project-db',
        instanceType: 'db.t3.micro',
        launchTime: ago(9),
        tags: { Owner: 'erin' },
        arn: 'arn:aws:rds:us-east-1:123456789012:db:erin-project-db',
        engine: 'postgres',
        storageGb: 20,
        storageType: 'gp2',
        multiAz: false,
        typeInfo: { gpu: false },
      },
      metrics: {
        ...metrics(
          (k) => 1.5 + (k % 4) * 0.2,
          () => 0,
        ),
        connections:
          metrics(
            () => 0,
            () => 0,
          ).cpu ?? [],
      },
    },
  ],
};

writeFileSync(
  new URL('../examples/classroom.json', import.meta.url),
  `${JSON.stringify(toSnapshotFile(snapshot), null, 1)}\n`,
);
