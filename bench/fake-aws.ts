/**
 * A fake AWS for the benchmark that holds the sweep to the limits real AWS holds it to. It answers EC2 (EC2 Query,
 * XML), CloudWatch (JSON 1.0), SSM (JSON 1.1) and SNS (Query, XML) from a synthetic fleet, either as an SDK
 * `requestHandler` in the same process (tests) or as an HTTP server on 127.0.0.1 (the benchmark, so that its own
 * CPU is not counted as the sweep's and the SDK's real HTTP handler runs). What it enforces:
 *
 * - GetMetricData: at most 500 queries per call (ValidationError otherwise), at most MaxDatapoints (default
 *   100,800, as CloudWatch) datapoints per answer: the rest comes with a NextToken, the unfinished series marked
 *   PartialData. GetMetricStatistics: one series, at most 1,440 datapoints.
 * - DescribeInstances: MaxResults 5..1000, NextToken pages.
 * - Throttling: per-API token buckets with AWS's default request rates (EC2 documents 100 tokens refilled at 20 a
 *   second for each non-mutating API; CloudWatch, SSM and SNS publish transactions per second), plus an optional
 *   share of calls throttled at random. A throttled call gets the service's own error code and HTTP status
 *   (EC2: 503 RequestLimitExceeded; CloudWatch: 400 Throttling; SSM: 400 ThrottlingException; SNS: 429 Throttled),
 *   so the SDK's adaptive retry runs as it would against AWS.
 * - Latency per call: a base (the benchmark's "ms per call") plus a part that grows with what the service has to
 *   gather: per instance in a DescribeInstances page, per datapoint in a metrics answer (LatencyModel).
 * - The fan-out (docs/scale.md, "Fan-out figures"): SQS (JSON 1.0: SendMessageBatch, SendMessage, ReceiveMessage with
 *   long polling, DeleteMessageBatch, ChangeMessageVisibility(Batch), GetQueueAttributes) over in-memory queues named
 *   by the last part of their URL, with the MD5 digests the SDK checks, at most 10 entries and 256 KiB a batch; STS
 *   AssumeRole (each member account gets access key `ASIA<account>`, and the token buckets are kept per access key, as
 *   AWS keeps them per account); SSM GetParametersByPath and DeleteParameters (the run claims).
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { HttpRequest, HttpResponse } from '@smithy/types';
import { TAGS } from '../src/core/policy.js';

/**
 * Milliseconds an answer takes: `baseMs` for every call, plus `perInstanceMs` for each instance in a
 * DescribeInstances page and `perDatapointMs` for each datapoint in a GetMetricData / GetMetricStatistics
 * answer. AWS publishes no latency figures; the defaults of the benchmark (bench/run.ts) make a page of 1,000
 * instances three times as slow as a small call, and a full GetMetricData batch half as slow again as one.
 */
export interface LatencyModel {
  baseMs: number;
  perInstanceMs: number;
  perDatapointMs: number;
}

/** A token bucket: `capacity` calls at once, refilled at `perSecond`. */
export interface BucketLimit {
  capacity: number;
  perSecond: number;
}

/**
 * Request rates per API and region (bucket per account x region x API, as EC2 applies them). EC2's
 * non-mutating value is documented (100, refilled at 20 a second); the others are the services' default
 * transactions-per-second quotas, a bucket of one second's worth.
 */
export const AWS_RATE_LIMITS: Record<string, BucketLimit> = {
  'ec2:DescribeInstances': { capacity: 100, perSecond: 20 },
  'ec2:DescribeInstanceTypes': { capacity: 100, perSecond: 20 },
  'ec2:DescribeInstanceAttribute': { capacity: 100, perSecond: 20 },
  'ec2:DescribeRegions': { capacity: 100, perSecond: 20 },
  // Mutating actions: no per-API figure is published for these; assumed a small bucket, slow refill.
  'ec2:CreateTags': { capacity: 50, perSecond: 5 },
  'ec2:DeleteTags': { capacity: 50, perSecond: 5 },
  'ec2:StopInstances': { capacity: 50, perSecond: 5 },
  'cloudwatch:GetMetricData': { capacity: 50, perSecond: 50 },
  'cloudwatch:GetMetricStatistics': { capacity: 400, perSecond: 400 },
  'ssm:GetParameter': { capacity: 40, perSecond: 40 },
  'ssm:PutParameter': { capacity: 3, perSecond: 3 },
  'sns:Publish': { capacity: 300, perSecond: 300 },
};

/** How the fake throttles. */
export interface ThrottleOptions {
  /** Per-API token buckets (AWS_RATE_LIMITS, or your own); false = none. */
  limits: Record<string, BucketLimit> | false;
  /** Share of the other calls throttled at random (0..1), from a seeded generator (same run, same calls). */
  randomShare: number;
  seed: number;
}

/** What the fake fleet looks like. */
export interface FakeAwsOptions {
  /** Running instances per region; regions not named have none. */
  fleet: Record<string, number>;
  /** first: the idle instances are new; steady: they carry a warning from 10 minutes before `now`. */
  scenario: 'first' | 'steady';
  /** The fleet's "now" (epoch ms): instances were launched 5 hours before it. */
  now: number;
  latency: LatencyModel;
  throttle: ThrottleOptions;
  /** GetMetricData's default MaxDatapoints (CloudWatch: 100,800). */
  maxDatapoints?: number;
  /** The clock token buckets refill by (tests pass their own). */
  clock?: () => number;
  /** Wait for the latency (false: compute it, count it, answer at once; the unit tests). */
  wait?: boolean;
  /**
   * Stand-in for the sweep-workers while the planner is measured: every target message sent to the queue named
   * `targets` is answered at once with a result on the queue named `results`, made from this result body (a real
   * worker's) with the message's run, index and target. The target messages stay on their queue.
   */
  echoResult?: string;
}

/** SQS: most entries in a batch, most bytes in one, and the payload that is billed as one request. */
export const SQS_MAX_ENTRIES = 10;
export const SQS_MAX_BATCH_BYTES = 262_144;
export const SQS_BILLED_CHUNK_BYTES = 65_536;

/** The regions a new account has enabled (DescribeRegions without opt-in regions). */
export const DEFAULT_REGIONS = [
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-northeast-3',
  'ap-south-1',
  'ap-southeast-1',
  'ap-southeast-2',
  'ca-central-1',
  'eu-central-1',
  'eu-north-1',
  'eu-west-1',
  'eu-west-2',
  'eu-west-3',
  'sa-east-1',
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
];

/** GetMetricData: most queries per call, and datapoints per answer by default. */
export const MAX_QUERIES = 500;
export const MAX_DATAPOINTS = 100_800;
/** GetMetricStatistics: most datapoints per call. */
export const MAX_STATISTICS_DATAPOINTS = 1_440;

/** Instance i of a region: every tenth a t3.large (not free tier), three in ten idle (CPU 1 %, little network). */
export function instanceId(region: number, i: number): string {
  return `i-${(region * 0x1000000 + i).toString(16).padStart(17, '0')}`;
}
const typeOf = (i: number) => (i % 10 === 9 ? 't3.large' : 't3.micro');
const idle = (i: number) => i % 10 < 3;
const indexOf = (id: string) => Number.parseInt(id.slice(2), 16) % 0x1000000;
const ownerOf = (i: number) => `student-${i % 40}`;

const EC2_XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const RDS_XMLNS = 'http://rds.amazonaws.com/doc/2014-10-31/';
const SNS_XMLNS = 'http://sns.amazonaws.com/doc/2010-03-31/';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One answer of the fake, before it is sent. */
export interface FakeAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** What the latency model charges for it. */
  latencyMs: number;
  /** An SQS ReceiveMessage that found nothing and may wait this long for a message. */
  longPollMs?: number;
}

/** A request as the fake needs it: headers (lower-case names) and the body text. */
export interface FakeRequest {
  headers: Record<string, string | undefined>;
  body: string;
}

/** What the fake counted. */
export interface FakeStats {
  /** Answered calls per `service:Operation` (throttled attempts not included). */
  calls: Record<string, number>;
  /** Throttled attempts per `service:Operation`. */
  throttled: Record<string, number>;
  /** Error answers other than throttling, per `service:Operation`. */
  errors: Record<string, number>;
  /** GetMetricData calls that were a NextToken page of an earlier call. */
  metricPages: number;
  responseBytes: number;
  /** Largest number of calls the fake was answering at once. */
  peakInFlight: number;
  /** SQS requests as SQS bills them (each 64 KiB of a request's payload is one), per operation. */
  sqsBilled: Record<string, number>;
  /** ReceiveMessage calls that found no message (after their long poll). */
  sqsEmptyReceives: number;
  /** Epoch ms of the first and last answer of each operation. */
  timing: Record<string, { first: number; last: number }>;
}

/** A message on a fake queue. */
interface QueuedMessage {
  id: string;
  body: string;
  md5: string;
  receiveCount: number;
  visibleAt: number;
  receipt?: string;
}

class ServiceError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** The fake AWS: state (SSM parameters, token buckets), the synthetic fleet, and counters. */
export class FakeAws {
  private stats: FakeStats = emptyStats();
  private readonly parameters = new Map<string, { value: string; version: number }>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private random: () => number;
  private inFlight = 0;
  private opts: FakeAwsOptions;
  private readonly queues = new Map<string, QueuedMessage[]>();
  private messageSeq = 0;

  constructor(options: FakeAwsOptions) {
    this.opts = options;
    this.random = mulberry32(options.throttle.seed);
  }

  /** A new fleet, latency or throttling for the next run; SSM parameters are kept (as in an account). */
  configure(options: FakeAwsOptions): void {
    this.opts = options;
    this.random = mulberry32(options.throttle.seed);
    this.buckets.clear();
    this.stats = emptyStats();
    this.queues.clear();
  }

  /** The bodies on a queue (visible or not), oldest first. */
  queueBodies(name: string): string[] {
    return (this.queues.get(name) ?? []).map((m) => m.body);
  }

  /** Forgets every SSM parameter (a new account). */
  clearParameters(): void {
    this.parameters.clear();
  }

  /** The counters since the last configure() (or reset). */
  counters(): FakeStats {
    return structuredClone(this.stats);
  }

  /** Answers one request, waiting for its latency when `wait` is not false. */
  async answer(req: FakeRequest): Promise<FakeAnswer> {
    this.inFlight++;
    this.stats.peakInFlight = Math.max(this.stats.peakInFlight, this.inFlight);
    try {
      const started = performance.now();
      let a = this.respond(req);
      // SQS long polling: an empty ReceiveMessage waits for a message up to its WaitTimeSeconds.
      const pollUntil = started + (a.longPollMs ?? 0);
      while (a.longPollMs !== undefined) {
        const left = this.opts.wait === false ? 0 : pollUntil - performance.now();
        if (left > 0) await sleep(Math.min(50, left));
        a = this.respond(
          req,
          Math.max(0, pollUntil - performance.now()) * (this.opts.wait === false ? 0 : 1),
        );
      }
      // The time spent building the answer counts towards its latency.
      const wait = a.latencyMs - (performance.now() - started);
      if (this.opts.wait !== false && wait > 0) await sleep(wait);
      this.stats.responseBytes += Buffer.byteLength(a.body);
      return a;
    } finally {
      this.inFlight--;
    }
  }

  /**
   * The answer to one request, without waiting (the latency is in the answer). `pollLeftMs`: an SQS receive asked
   * again during its long poll, with the time it may still wait (counted once, when it is answered).
   */
  respond(req: FakeRequest, pollLeftMs?: number): FakeAnswer {
    const scope = /Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\//.exec(req.headers.authorization ?? '');
    const accessKey = scope?.[1] ?? '';
    const region = scope?.[2] ?? 'us-east-1';
    const service = scope?.[3] ?? '';
    const target = req.headers['x-amz-target'];
    let operation: string;
    let json: Record<string, unknown> = {};
    let form = new URLSearchParams();
    if (target) {
      operation = `${service === 'monitoring' ? 'cloudwatch' : service}:${target.split('.').pop()}`;
      json = req.body ? (JSON.parse(req.body) as Record<string, unknown>) : {};
    } else {
      form = new URLSearchParams(req.body);
      operation = `${service}:${form.get('Action')}`;
    }
    const base = this.opts.latency.baseMs;
    if (pollLeftMs === undefined && this.throttled(`${accessKey}/${region}`, operation)) {
      this.count(this.stats.throttled, operation);
      return { ...throttleAnswer(operation), latencyMs: base };
    }
    try {
      let answer: { body: string; contentType: string; extraMs: number };
      if (service === 'ec2') answer = this.ec2(region, operation, form);
      else if (service === 'monitoring') answer = this.cloudwatch(operation, json);
      else if (service === 'ssm') answer = this.ssm(operation, json);
      else if (service === 'sns') answer = this.sns(operation, form);
      else if (service === 'sagemaker' || service === 'rds') answer = this.noneOfTheOtherKinds(operation);
      else if (service === 'sqs') {
        const q = this.sqs(operation, json, pollLeftMs);
        if (q.longPollMs !== undefined)
          return { status: 200, headers: {}, body: '', latencyMs: 0, longPollMs: q.longPollMs };
        if (operation === 'sqs:ReceiveMessage' && q.billedBytes === 0) this.stats.sqsEmptyReceives++;
        this.count(
          this.stats.sqsBilled,
          operation,
          Math.max(1, Math.ceil(q.billedBytes / SQS_BILLED_CHUNK_BYTES)),
        );
        answer = q;
      } else if (service === 'sts') answer = this.sts(operation, form);
      else throw new ServiceError('UnknownOperation', `the fake does not answer ${service} ${operation}`);
      this.count(this.stats.calls, operation);
      const at = Date.now();
      const t = this.stats.timing[operation];
      if (t) t.last = at;
      else this.stats.timing[operation] = { first: at, last: at };
      return {
        status: 200,
        headers: { 'content-type': answer.contentType },
        body: answer.body,
        latencyMs: base + answer.extraMs,
      };
    } catch (err) {
      if (!(err instanceof ServiceError)) throw err;
      this.count(this.stats.errors, operation);
      return { ...errorAnswer(service, err), latencyMs: base };
    }
  }

  /** The SDK `requestHandler` over this fake (same process). */
  requestHandler(): {
    handle(request: HttpRequest): Promise<{ response: HttpResponse }>;
    updateHttpClientConfig(): void;
    httpHandlerConfigs(): Record<string, never>;
  } {
    return {
      handle: async (request: HttpRequest) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(request.headers)) headers[k.toLowerCase()] = v;
        const raw: unknown = request.body;
        const body =
          typeof raw === 'string'
            ? raw
            : raw instanceof Uint8Array
              ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8')
              : '';
        const a = await this.answer({ headers, body });
        const bytes = Buffer.from(a.body);
        return {
          response: {
            statusCode: a.status,
            reason: '',
            headers: { ...a.headers, 'content-length': String(bytes.length) },
            body: bytes,
          },
        };
      },
      updateHttpClientConfig() {},
      httpHandlerConfigs() {
        return {};
      },
    };
  }

  /** Serves the fake over HTTP on 127.0.0.1 (port 0: any free port). */
  listen(port = 0): Promise<Server> {
    const server = createServer((req, res) => {
      readBody(req)
        .then((body) => {
          const headers: Record<string, string | undefined> = {};
          for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(',') : v;
          return this.answer({ headers, body });
        })
        .then((a) => {
          const bytes = Buffer.from(a.body);
          res.writeHead(a.status, { ...a.headers, 'content-length': String(bytes.length) });
          res.end(bytes);
        })
        .catch((err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(err instanceof Error ? err.message : String(err));
        });
    });
    server.keepAliveTimeout = 60_000;
    return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
  }

  private count(map: Record<string, number>, operation: string, n = 1): void {
    map[operation] = (map[operation] ?? 0) + n;
  }

  /** `where`: the caller's access key and the region (AWS keeps request rates per account and region). */
  private throttled(where: string, operation: string): boolean {
    const { limits, randomShare } = this.opts.throttle;
    const limit = limits ? limits[operation] : undefined;
    if (limit) {
      const key = `${where}/${operation}`;
      const now = (this.opts.clock ?? Date.now)();
      const b = this.buckets.get(key) ?? { tokens: limit.capacity, at: now };
      b.tokens = Math.min(limit.capacity, b.tokens + ((now - b.at) / 1000) * limit.perSecond);
      b.at = now;
      this.buckets.set(key, b);
      if (b.tokens < 1) return true;
      b.tokens -= 1;
    }
    return randomShare > 0 && this.random() < randomShare;
  }

  // ---- EC2 ----

  private ec2(
    region: string,
    operation: string,
    params: URLSearchParams,
  ): { body: string; contentType: string; extraMs: number } {
    // EC2 sends its answers indented, four spaces a level (the SDK's parser reads that white space as well).
    const xml = (name: string, inner: string, extraMs = 0) => ({
      contentType: 'text/xml;charset=UTF-8',
      body: `<?xml version="1.0" encoding="UTF-8"?>\n${indentXml(`<${name}Response xmlns="${EC2_XMLNS}"><requestId>fake</requestId>${inner}</${name}Response>`)}`,
      extraMs,
    });
    const regionIndex = DEFAULT_REGIONS.indexOf(region);
    const size = this.opts.fleet[region] ?? 0;
    switch (operation) {
      case 'ec2:DescribeInstances': {
        const pageSize = Number(params.get('MaxResults') ?? 1000);
        if (!Number.isInteger(pageSize) || pageSize < 5 || pageSize > 1000)
          throw new ServiceError('InvalidParameterValue', `MaxResults ${pageSize} is not between 5 and 1000`);
        const start = Number(params.get('NextToken') ?? 0);
        const end = Math.min(size, start + pageSize);
        const reservations: string[] = [];
        // Ten instances per reservation, as if launched in groups.
        for (let r = start; r < end; r += 10) {
          const items: string[] = [];
          for (let i = r; i < Math.min(end, r + 10); i++)
            items.push(this.instanceXml(regionIndex, region, i));
          reservations.push(
            `<item><reservationId>r-${(regionIndex * 0x1000000 + r).toString(16).padStart(17, '0')}</reservationId><ownerId>123456789012</ownerId><groupSet/><instancesSet>${items.join('')}</instancesSet></item>`,
          );
        }
        const next = end < size ? `<nextToken>${end}</nextToken>` : '';
        return xml(
          'DescribeInstances',
          `<reservationSet>${reservations.join('')}</reservationSet>${next}`,
          (end - start) * this.opts.latency.perInstanceMs,
        );
      }
      case 'ec2:DescribeInstanceTypes': {
        const types: string[] = [];
        for (const [key, value] of params) if (key.startsWith('InstanceType.')) types.push(value);
        const items = types.map((t) => {
          const large = t === 't3.large';
          return `<item><instanceType>${t}</instanceType><currentGeneration>true</currentGeneration><freeTierEligible>${!large}</freeTierEligible><vCpuInfo><defaultVCpus>2</defaultVCpus></vCpuInfo><memoryInfo><sizeInMiB>${large ? 8192 : 1024}</sizeInMiB></memoryInfo><hibernationSupported>true</hibernationSupported></item>`;
        });
        return xml('DescribeInstanceTypes', `<instanceTypeSet>${items.join('')}</instanceTypeSet>`);
      }
      case 'ec2:DescribeRegions':
        return xml(
          'DescribeRegions',
          `<regionInfo>${DEFAULT_REGIONS.map((r) => `<item><regionName>${r}</regionName><regionEndpoint>ec2.${r}.amazonaws.com</regionEndpoint><optInStatus>opt-in-not-required</optInStatus></item>`).join('')}</regionInfo>`,
        );
      case 'ec2:CreateTags':
      case 'ec2:DeleteTags':
        return xml(operation.slice(4), '<return>true</return>');
      case 'ec2:DescribeInstanceAttribute':
        return xml(
          'DescribeInstanceAttribute',
          `<instanceId>${params.get('InstanceId')}</instanceId><disableApiStop><value>false</value></disableApiStop>`,
        );
      case 'ec2:StopInstances': {
        const ids: string[] = [];
        for (const [key, value] of params) if (key.startsWith('InstanceId.')) ids.push(value);
        return xml(
          'StopInstances',
          `<instancesSet>${ids.map((id) => `<item><instanceId>${id}</instanceId><currentState><code>64</code><name>stopping</name></currentState><previousState><code>16</code><name>running</name></previousState></item>`).join('')}</instancesSet>`,
        );
      }
      default:
        throw new ServiceError('InvalidAction', `the fake EC2 does not answer ${operation}`);
    }
  }

  /** One instance as DescribeInstances returns it, with the fields a real answer has (about 3.5 KB). */
  private instanceXml(regionIndex: number, region: string, i: number): string {
    const id = instanceId(regionIndex, i);
    const hex = (regionIndex * 0x1000000 + i).toString(16).padStart(17, '0');
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    const launchTime = new Date(this.opts.now - 5 * 3_600_000).toISOString();
    return `<item><instanceId>${id}</instanceId><imageId>ami-0123456789abcdef0</imageId><instanceState><code>16</code><name>running</name></instanceState><privateDnsName>ip-${ip.replaceAll('.', '-')}.ec2.internal</privateDnsName><dnsName/><reason/><keyName>${ownerOf(i)}</keyName><amiLaunchIndex>0</amiLaunchIndex><productCodes/><instanceType>${typeOf(i)}</instanceType><launchTime>${launchTime}</launchTime><placement><availabilityZone>${region}a</availabilityZone><groupName/><tenancy>default</tenancy></placement><monitoring><state>disabled</state></monitoring><subnetId>subnet-0123456789abcdef0</subnetId><vpcId>vpc-0123456789abcdef0</vpcId><privateIpAddress>${ip}</privateIpAddress><sourceDestCheck>true</sourceDestCheck><groupSet><item><groupId>sg-0123456789abcdef0</groupId><groupName>ssh-only</groupName></item></groupSet><architecture>x86_64</architecture><rootDeviceType>ebs</rootDeviceType><rootDeviceName>/dev/xvda</rootDeviceName><blockDeviceMapping><item><deviceName>/dev/xvda</deviceName><ebs><volumeId>vol-${hex}</volumeId><status>attached</status><attachTime>${launchTime}</attachTime><deleteOnTermination>true</deleteOnTermination></ebs></item></blockDeviceMapping><virtualizationType>hvm</virtualizationType><clientToken/><tagSet><item><key>Name</key><value>notebook-${i}</value></item><item><key>Owner</key><value>${ownerOf(i)}</value></item>${this.warningTags(i)}</tagSet><hypervisor>xen</hypervisor><networkInterfaceSet><item><networkInterfaceId>eni-${hex}</networkInterfaceId><subnetId>subnet-0123456789abcdef0</subnetId><vpcId>vpc-0123456789abcdef0</vpcId><ownerId>123456789012</ownerId><status>in-use</status><privateIpAddress>${ip}</privateIpAddress><sourceDestCheck>true</sourceDestCheck><groupSet><item><groupId>sg-0123456789abcdef0</groupId><groupName>ssh-only</groupName></item></groupSet><attachment><attachmentId>eni-attach-${hex}</attachmentId><deviceIndex>0</deviceIndex><status>attached</status><attachTime>${launchTime}</attachTime><deleteOnTermination>true</deleteOnTermination></attachment><privateIpAddressesSet><item><privateIpAddress>${ip}</privateIpAddress><primary>true</primary></item></privateIpAddressesSet></item></networkInterfaceSet><ebsOptimized>false</ebsOptimized><enaSupport>true</enaSupport><cpuOptions><coreCount>1</coreCount><threadsPerCore>2</threadsPerCore></cpuOptions><hibernationOptions><configured>false</configured></hibernationOptions><metadataOptions><state>applied</state><httpTokens>required</httpTokens><httpPutResponseHopLimit>2</httpPutResponseHopLimit><httpEndpoint>enabled</httpEndpoint></metadataOptions><platformDetails>Linux/UNIX</platformDetails><bootMode>uefi-preferred</bootMode></item>`;
  }

  private warningTags(i: number): string {
    if (this.opts.scenario !== 'steady' || !idle(i)) return '';
    const at = new Date(this.opts.now - 10 * 60_000).toISOString();
    return `<item><key>${TAGS.warnedAt}</key><value>${at}</value></item><item><key>${TAGS.warnRule}</key><value>idle</value></item>`;
  }

  // ---- CloudWatch ----

  /** The 5-minute datapoints CloudWatch has in [start, end) for a metric of instance i. */
  private series(i: number, metric: string, startS: number, endS: number, period: number) {
    const value = metric === 'CPUUtilization' ? (idle(i) ? 1 : 40) : idle(i) ? 1_000 : 5_000_000;
    const times: number[] = [];
    for (let t = Math.ceil(startS / period) * period; t < endS; t += period) times.push(t);
    return { times, value };
  }

  private cloudwatch(
    operation: string,
    input: Record<string, unknown>,
  ): { body: string; contentType: string; extraMs: number } {
    const reply = (o: unknown, points: number) => ({
      contentType: 'application/x-amz-json-1.0',
      body: JSON.stringify(o),
      extraMs: points * this.opts.latency.perDatapointMs,
    });
    const seconds = (v: unknown) => (typeof v === 'number' ? v : Date.parse(String(v)) / 1000);
    if (operation === 'cloudwatch:GetMetricStatistics') {
      const dims = input.Dimensions as { Value: string }[] | undefined;
      const period = Number(input.Period);
      const stat = (input.Statistics as string[] | undefined)?.[0] ?? 'Average';
      const { times, value } = this.series(
        indexOf(dims?.[0]?.Value ?? 'i-0'),
        String(input.MetricName),
        seconds(input.StartTime),
        seconds(input.EndTime),
        period,
      );
      if (times.length > MAX_STATISTICS_DATAPOINTS)
        throw new ServiceError(
          'InvalidParameterCombination',
          `You have requested up to ${times.length} datapoints, which exceeds the limit of ${MAX_STATISTICS_DATAPOINTS}.`,
        );
      // CloudWatch answers GetMetricStatistics in no particular order.
      return reply(
        {
          Label: input.MetricName,
          Datapoints: times.reverse().map((t) => ({ Timestamp: t, [stat]: value, Unit: 'None' })),
        },
        times.length,
      );
    }
    if (operation !== 'cloudwatch:GetMetricData')
      throw new ServiceError('InvalidAction', `the fake CloudWatch does not answer ${operation}`);
    type Query = {
      Id: string;
      MetricStat: { Metric: { MetricName: string; Dimensions: { Value: string }[] }; Period: number };
    };
    const queries = (input.MetricDataQueries as Query[] | undefined) ?? [];
    if (queries.length > MAX_QUERIES)
      throw new ServiceError(
        'ValidationError',
        `The collection MetricDataQueries must not have a size greater than ${MAX_QUERIES}.`,
      );
    const budget = Number(input.MaxDatapoints ?? this.opts.maxDatapoints ?? MAX_DATAPOINTS);
    const ascending = input.ScanBy === 'TimestampAscending';
    // NextToken = "<query index>:<datapoint index>" where the last answer stopped.
    const token = typeof input.NextToken === 'string' ? input.NextToken : undefined;
    if (token !== undefined) this.stats.metricPages++;
    let [q0, p0] = token ? token.split(':').map(Number) : [0, 0];
    q0 ??= 0;
    p0 ??= 0;
    let left = budget;
    let next: string | undefined;
    const startS = seconds(input.StartTime);
    const endS = seconds(input.EndTime);
    const results = queries.map((q, k) => {
      const empty = { Id: q.Id, Label: q.MetricStat.Metric.MetricName, Timestamps: [], Values: [] };
      if (k < q0) return { ...empty, StatusCode: 'Complete' };
      if (next !== undefined) return { ...empty, StatusCode: 'PartialData' };
      const { times, value } = this.series(
        indexOf(q.MetricStat.Metric.Dimensions[0]?.Value ?? 'i-0'),
        q.MetricStat.Metric.MetricName,
        startS,
        endS,
        q.MetricStat.Period,
      );
      if (!ascending) times.reverse();
      const from = k === q0 ? p0 : 0;
      const take = Math.min(times.length - from, left);
      const slice = times.slice(from, from + take);
      left -= take;
      const done = from + take >= times.length;
      if (!done) next = `${k}:${from + take}`;
      else if (left === 0 && k < queries.length - 1) next = `${k + 1}:0`;
      return {
        Id: q.Id,
        Label: q.MetricStat.Metric.MetricName,
        Timestamps: slice,
        Values: slice.map(() => value),
        StatusCode: done ? 'Complete' : 'PartialData',
      };
    });
    return reply(
      { MetricDataResults: results, Messages: [], ...(next ? { NextToken: next } : {}) },
      budget - left,
    );
  }

  // ---- SSM ----

  private ssm(
    operation: string,
    input: Record<string, unknown>,
  ): { body: string; contentType: string; extraMs: number } {
    const reply = (o: unknown) => ({
      contentType: 'application/x-amz-json-1.1',
      body: JSON.stringify(o),
      extraMs: 0,
    });
    const name = String(input.Name ?? '');
    if (operation === 'ssm:GetParameter') {
      const p = this.parameters.get(name);
      if (!p) throw new ServiceError('ParameterNotFound', `Parameter ${name} not found.`);
      return reply({ Parameter: { Name: name, Type: 'String', Value: p.value, Version: p.version } });
    }
    if (operation === 'ssm:PutParameter') {
      const value = String(input.Value ?? '');
      if (Buffer.byteLength(value) > 4096)
        throw new ServiceError('ValidationException', `Parameter ${name} is over 4 KB (standard tier).`);
      const p = this.parameters.get(name);
      if (p && input.Overwrite !== true)
        throw new ServiceError('ParameterAlreadyExists', `The parameter ${name} already exists.`);
      const version = (p?.version ?? 0) + 1;
      this.parameters.set(name, { value, version });
      return reply({ Version: version, Tier: 'Standard' });
    }
    if (operation === 'ssm:GetParametersByPath') {
      const path = `${String(input.Path ?? '').replace(/\/$/, '')}/`;
      const max = Number(input.MaxResults ?? 10);
      const start = Number(input.NextToken ?? 0);
      const names = [...this.parameters.keys()].filter((n) => n.startsWith(path)).sort();
      const page = names.slice(start, start + max);
      return reply({
        Parameters: page.map((n) => {
          const p = this.parameters.get(n) as { value: string; version: number };
          return { Name: n, Type: 'String', Value: p.value, Version: p.version };
        }),
        ...(start + max < names.length ? { NextToken: String(start + max) } : {}),
      });
    }
    if (operation === 'ssm:DeleteParameters') {
      const names = (input.Names as string[] | undefined) ?? [];
      const deleted = names.filter((n) => this.parameters.delete(n));
      return reply({
        DeletedParameters: deleted,
        InvalidParameters: names.filter((n) => !deleted.includes(n)),
      });
    }
    throw new ServiceError('InvalidAction', `the fake SSM does not answer ${operation}`);
  }

  // ---- SQS ----

  /**
   * SQS over in-memory queues (the last part of QueueUrl names one). A receive that finds nothing returns `longPollMs`
   * (the wait it may still do, from WaitTimeSeconds or `pollLeftMs`) until the wait is over. `billedBytes` is the
   * payload SQS bills by (message bodies sent or received).
   */
  private sqs(
    operation: string,
    input: Record<string, unknown>,
    pollLeftMs?: number,
  ): { body: string; contentType: string; extraMs: number; billedBytes: number; longPollMs?: number } {
    const reply = (o: unknown, billedBytes = 0) => ({
      contentType: 'application/x-amz-json-1.0',
      body: JSON.stringify(o),
      extraMs: 0,
      billedBytes,
    });
    const url = String(input.QueueUrl ?? '');
    const name = url.split('/').pop() ?? '';
    if (!name) throw new ServiceError('QueueDoesNotExist', `no queue at ${url}`);
    let queue = this.queues.get(name);
    if (!queue) {
      queue = [];
      this.queues.set(name, queue);
    }
    const now = Date.now();
    type Entry = { Id: string; MessageBody?: string; ReceiptHandle?: string; VisibilityTimeout?: number };
    const entries = (input.Entries as Entry[] | undefined) ?? [];
    if (entries.length > SQS_MAX_ENTRIES)
      throw new ServiceError('TooManyEntriesInBatchRequest', `at most ${SQS_MAX_ENTRIES} entries a batch`);
    switch (operation) {
      case 'sqs:SendMessage':
      case 'sqs:SendMessageBatch': {
        const bodies =
          operation === 'sqs:SendMessage'
            ? [{ Id: '0', MessageBody: String(input.MessageBody ?? '') }]
            : entries.map((e) => ({ Id: e.Id, MessageBody: String(e.MessageBody ?? '') }));
        const bytes = bodies.reduce((n, e) => n + Buffer.byteLength(e.MessageBody), 0);
        if (bytes > SQS_MAX_BATCH_BYTES)
          throw new ServiceError(
            'BatchRequestTooLong',
            `the batch is ${bytes} bytes, over ${SQS_MAX_BATCH_BYTES}`,
          );
        const sent = bodies.map((e) => {
          const m = this.enqueue(queue, e.MessageBody, now);
          if (name === 'targets' && this.opts.echoResult) this.echo(e.MessageBody, now);
          return { Id: e.Id, MessageId: m.id, MD5OfMessageBody: m.md5 };
        });
        if (operation === 'sqs:SendMessage')
          return reply({ MessageId: sent[0]?.MessageId, MD5OfMessageBody: sent[0]?.MD5OfMessageBody }, bytes);
        return reply({ Successful: sent, Failed: [] }, bytes);
      }
      case 'sqs:ReceiveMessage': {
        const max = Number(input.MaxNumberOfMessages ?? 1);
        const visible = queue.filter((m) => m.visibleAt <= now).slice(0, max);
        if (visible.length === 0) {
          const wait = pollLeftMs ?? Number(input.WaitTimeSeconds ?? 0) * 1000;
          if (wait > 0) return { ...reply({}), longPollMs: wait };
          return reply({});
        }
        const hidden = Number(input.VisibilityTimeout ?? 30);
        const messages = visible.map((m) => {
          m.receiveCount++;
          m.receipt = `${m.id}#${m.receiveCount}`;
          m.visibleAt = now + hidden * 1000;
          return {
            MessageId: m.id,
            ReceiptHandle: m.receipt,
            MD5OfBody: m.md5,
            Body: m.body,
            Attributes: { ApproximateReceiveCount: String(m.receiveCount) },
          };
        });
        return reply(
          { Messages: messages },
          messages.reduce((n, m) => n + Buffer.byteLength(m.Body), 0),
        );
      }
      case 'sqs:DeleteMessageBatch':
      case 'sqs:ChangeMessageVisibilityBatch': {
        const ok = entries.map((e) => {
          const k = queue.findIndex((m) => m.receipt === e.ReceiptHandle);
          const m = queue[k];
          if (m && operation === 'sqs:DeleteMessageBatch') queue.splice(k, 1);
          else if (m) m.visibleAt = now + Number(e.VisibilityTimeout ?? 0) * 1000;
          return { Id: e.Id };
        });
        return reply({ Successful: ok, Failed: [] });
      }
      case 'sqs:ChangeMessageVisibility': {
        const m = queue.find((x) => x.receipt === input.ReceiptHandle);
        if (m) m.visibleAt = now + Number(input.VisibilityTimeout ?? 0) * 1000;
        return reply({});
      }
      case 'sqs:GetQueueAttributes':
        return reply({
          Attributes: {
            ApproximateNumberOfMessages: String(queue.filter((m) => m.visibleAt <= now).length),
            ApproximateNumberOfMessagesNotVisible: String(queue.filter((m) => m.visibleAt > now).length),
          },
        });
      default:
        throw new ServiceError('InvalidAction', `the fake SQS does not answer ${operation}`);
    }
  }

  private enqueue(queue: QueuedMessage[], body: string, now: number): QueuedMessage {
    const m: QueuedMessage = {
      id: `fake-${++this.messageSeq}`,
      body,
      md5: createHash('md5').update(body, 'utf8').digest('hex'),
      receiveCount: 0,
      visibleAt: now,
    };
    queue.push(m);
    return m;
  }

  /** A worker's result for a target message, made from `echoResult` (see FakeAwsOptions). */
  private echo(targetBody: string, now: number): void {
    const t = JSON.parse(targetBody) as {
      runId: string;
      at: string;
      index: number;
      target: { region: string; account?: string };
    };
    const r = JSON.parse(this.opts.echoResult ?? '{}') as Record<string, unknown> & {
      scope?: Record<string, unknown>;
    };
    const result = {
      ...r,
      runId: t.runId,
      at: t.at,
      index: t.index,
      target: t.target,
      attempt: 1,
      scope: {
        ...r.scope,
        region: t.target.region,
        ...(t.target.account ? { account: t.target.account } : {}),
      },
    };
    let results = this.queues.get('results');
    if (!results) {
      results = [];
      this.queues.set('results', results);
    }
    this.enqueue(results, JSON.stringify(result), now);
  }

  // ---- STS ----

  /** AssumeRole: credentials whose access key names the account (`ASIA<account>`), valid for an hour. */
  private sts(
    operation: string,
    params: URLSearchParams,
  ): { body: string; contentType: string; extraMs: number } {
    if (operation !== 'sts:AssumeRole')
      throw new ServiceError('InvalidAction', `the fake STS does not answer ${operation}`);
    const arn = params.get('RoleArn') ?? '';
    const account = /^arn:aws[\w-]*:iam::(\d{12}):role\//.exec(arn)?.[1];
    if (!account) throw new ServiceError('ValidationError', `RoleArn ${arn} is not a role ARN`);
    const expires = new Date(Date.now() + 3_600_000).toISOString();
    return {
      contentType: 'text/xml',
      body: `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>ASIA${account}</AccessKeyId><SecretAccessKey>fake</SecretAccessKey><SessionToken>fake-${account}</SessionToken><Expiration>${expires}</Expiration></Credentials><AssumedRoleUser><Arn>${arn.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/')}/${params.get('RoleSessionName') ?? 's'}</Arn><AssumedRoleId>AROAFAKE:${params.get('RoleSessionName') ?? 's'}</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></AssumeRoleResponse>`,
      extraMs: 0,
    };
  }

  // ---- SageMaker, RDS ----

  /**
   * The other kinds the sweep lists in every region (notebook instances, DB instances and clusters): a benchmark
   * fleet is EC2 instances only, so each listing is one call that finds none, as in most of a class's regions.
   */
  private noneOfTheOtherKinds(operation: string): { body: string; contentType: string; extraMs: number } {
    if (operation === 'sagemaker:ListNotebookInstances')
      return { contentType: 'application/x-amz-json-1.1', body: '{"NotebookInstances":[]}', extraMs: 0 };
    const list = { 'rds:DescribeDBInstances': 'DBInstances', 'rds:DescribeDBClusters': 'DBClusters' }[
      operation as 'rds:DescribeDBInstances'
    ];
    if (!list) throw new ServiceError('InvalidAction', `the fake does not answer ${operation}`);
    const name = operation.slice('rds:'.length);
    return {
      contentType: 'text/xml',
      body: `<${name}Response xmlns="${RDS_XMLNS}"><${name}Result><${list}/></${name}Result><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></${name}Response>`,
      extraMs: 0,
    };
  }

  // ---- SNS ----

  private sns(
    operation: string,
    params: URLSearchParams,
  ): { body: string; contentType: string; extraMs: number } {
    if (operation !== 'sns:Publish')
      throw new ServiceError('InvalidAction', `the fake SNS does not answer ${operation}`);
    if (Buffer.byteLength(params.get('Message') ?? '') > 262_144)
      throw new ServiceError('InvalidParameter', 'Invalid parameter: Message too long');
    const id = `${this.stats.calls['sns:Publish'] ?? 0}-fake`;
    return {
      contentType: 'text/xml',
      body: `<PublishResponse xmlns="${SNS_XMLNS}"><PublishResult><MessageId>${id}</MessageId></PublishResult><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></PublishResponse>`,
      extraMs: 0,
    };
  }
}

function emptyStats(): FakeStats {
  return {
    calls: {},
    throttled: {},
    errors: {},
    metricPages: 0,
    responseBytes: 0,
    peakInFlight: 0,
    sqsBilled: {},
    sqsEmptyReceives: 0,
    timing: {},
  };
}

/** The throttling answer of each service: its own code and HTTP status, as the SDK classifies them. */
function throttleAnswer(operation: string): Omit<FakeAnswer, 'latencyMs'> {
  const service = operation.split(':')[0];
  if (service === 'ec2')
    return errorAnswer('ec2', new ServiceError('RequestLimitExceeded', 'Request limit exceeded.', 503));
  if (service === 'cloudwatch')
    return errorAnswer('monitoring', new ServiceError('Throttling', 'Rate exceeded'));
  if (service === 'ssm') return errorAnswer('ssm', new ServiceError('ThrottlingException', 'Rate exceeded'));
  return errorAnswer('sns', new ServiceError('Throttled', 'Rate exceeded', 429));
}

function errorAnswer(service: string, err: ServiceError): Omit<FakeAnswer, 'latencyMs'> {
  if (service === 'ec2')
    return {
      status: err.status,
      headers: { 'content-type': 'text/xml;charset=UTF-8' },
      body: `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${err.code}</Code><Message>${err.message}</Message></Error></Errors><RequestID>fake</RequestID></Response>`,
    };
  if (service === 'sns' || service === 'sts')
    return {
      status: err.status,
      headers: { 'content-type': 'text/xml' },
      body: `<ErrorResponse xmlns="${SNS_XMLNS}"><Error><Type>Sender</Type><Code>${err.code}</Code><Message>${err.message}</Message></Error><RequestId>fake</RequestId></ErrorResponse>`,
    };
  // JSON protocols; CloudWatch's is query-compatible (the SDK takes the code from x-amzn-query-error).
  return {
    status: err.status,
    headers: {
      'content-type': service === 'ssm' ? 'application/x-amz-json-1.1' : 'application/x-amz-json-1.0',
      ...(service === 'monitoring' || service === 'sqs'
        ? { 'x-amzn-query-error': `${err.code};Sender` }
        : {}),
    },
    body: JSON.stringify({ __type: err.code, message: err.message }),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** A small seeded generator (mulberry32): the same seed throttles the same calls. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Compact XML laid out as EC2 lays out its answers: each element on a line of its own, indented four spaces a
 * level, an element holding only text (or nothing) on one line. The text itself is left as it is.
 */
export function indentXml(compact: string): string {
  const out: string[] = [];
  let depth = 0;
  const parts = compact.split(/(<[^>]+>)/).filter((p) => p !== '');
  for (let k = 0; k < parts.length; k++) {
    const part = parts[k] as string;
    const pad = '    '.repeat(depth);
    if (part.startsWith('</')) {
      depth--;
      out.push(`${'    '.repeat(depth)}${part}`);
    } else if (part.endsWith('/>')) {
      out.push(`${pad}${part}`);
    } else if (parts[k + 1]?.startsWith('</')) {
      // <a></a>: one line
      out.push(`${pad}${part}${parts[k + 1]}`);
      k++;
    } else if (!parts[k + 1]?.startsWith('<') && parts[k + 2]?.startsWith('</')) {
      // <a>text</a>: one line
      out.push(`${pad}${part}${parts[k + 1]}${parts[k + 2]}`);
      k += 2;
    } else {
      out.push(`${pad}${part}`);
      depth++;
    }
  }
  return out.join('\n');
}
