/**
 * A fake AWS transport for the benchmark: an SDK `requestHandler` that answers EC2 (EC2 Query, XML) and
 * CloudWatch (JSON 1.0) requests from a synthetic fleet, waits a fixed latency per call, and counts calls by
 * operation. The real SDK clients, middleware, serialisers and parsers run on top of it; only the network is fake.
 */
import type { HttpRequest, HttpResponse } from '@smithy/types';
import { TAGS } from '../src/core/policy.js';

/** The synthetic fleet: N running instances in one region, with CPU and network points over the window. */
export interface FakeFleet {
  size: number;
  /** ISO time the instances were launched. */
  launchTime: string;
  /** Start and step (ms) of the datapoints every instance has. */
  firstPointMs: number;
  points: number;
  /** Steady state: the idle instances already carry a warning from this time (within the grace period). */
  idleWarnedAt?: string;
}

/** Instance i: every tenth a t3.large (not free tier), three in ten idle (CPU 1 %, little network). */
export function instanceId(i: number): string {
  return `i-${i.toString(16).padStart(17, '0')}`;
}
const typeOf = (i: number) => (i % 10 === 9 ? 't3.large' : 't3.micro');
const idle = (i: number) => i % 10 < 3;
const indexOf = (id: string) => Number.parseInt(id.slice(2), 16);

const XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Counts, latency and the synthetic answers. */
export class FakeAwsTransport {
  readonly calls = new Map<string, number>();
  /** Bytes of response bodies sent (what the SDK had to parse). */
  responseBytes = 0;

  constructor(
    private readonly fleet: FakeFleet,
    private readonly latencyMs: number,
  ) {}

  /** The SDK calls this for every request (after signing). */
  async handle(request: HttpRequest): Promise<{ response: HttpResponse }> {
    const raw: unknown = request.body;
    const body =
      typeof raw === 'string'
        ? raw
        : raw instanceof Uint8Array
          ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8')
          : '';
    const target = request.headers['x-amz-target'] ?? request.headers['X-Amz-Target'];
    let operation: string;
    let reply: { contentType: string; body: string };
    if (target) {
      operation = `cloudwatch:${target.split('.').pop()}`;
      reply = this.cloudwatch(operation, JSON.parse(body) as Record<string, unknown>);
    } else {
      const params = new URLSearchParams(body);
      operation = `ec2:${params.get('Action')}`;
      reply = this.ec2(operation, params);
    }
    this.calls.set(operation, (this.calls.get(operation) ?? 0) + 1);
    await sleep(this.latencyMs);
    const bytes = Buffer.from(reply.body);
    this.responseBytes += bytes.length;
    return {
      response: {
        statusCode: 200,
        headers: { 'content-type': reply.contentType, 'content-length': String(bytes.length) },
        body: bytes,
      },
    };
  }

  /** Part of the SDK's handler interface; nothing to configure. */
  updateHttpClientConfig(): void {}

  /** Part of the SDK's handler interface. */
  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  private ec2(operation: string, params: URLSearchParams): { contentType: string; body: string } {
    const xml = (name: string, inner: string) => ({
      contentType: 'text/xml;charset=UTF-8',
      body: `<?xml version="1.0" encoding="UTF-8"?>\n<${name}Response xmlns="${XMLNS}"><requestId>bench</requestId>${inner}</${name}Response>`,
    });
    switch (operation) {
      case 'ec2:DescribeInstances': {
        const pageSize = Number(params.get('MaxResults') ?? 1000);
        const start = Number(params.get('NextToken') ?? 0);
        const end = Math.min(this.fleet.size, start + pageSize);
        const reservations: string[] = [];
        // Ten instances per reservation, as if launched in groups.
        for (let r = start; r < end; r += 10) {
          const items: string[] = [];
          for (let i = r; i < Math.min(end, r + 10); i++) items.push(this.instanceXml(i));
          reservations.push(
            `<item><reservationId>r-${r.toString(16).padStart(17, '0')}</reservationId><ownerId>123456789012</ownerId><groupSet/><instancesSet>${items.join('')}</instancesSet></item>`,
          );
        }
        const next = end < this.fleet.size ? `<nextToken>${end}</nextToken>` : '';
        return xml('DescribeInstances', `<reservationSet>${reservations.join('')}</reservationSet>${next}`);
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
          '<regionInfo><item><regionName>us-east-1</regionName><regionEndpoint>ec2.us-east-1.amazonaws.com</regionEndpoint><optInStatus>opt-in-not-required</optInStatus></item></regionInfo>',
        );
      case 'ec2:CreateTags':
      case 'ec2:DeleteTags':
        return xml(operation.slice(4), '<return>true</return>');
      case 'ec2:DescribeInstanceAttribute':
        return xml(
          'DescribeInstanceAttribute',
          `<instanceId>${params.get('InstanceId')}</instanceId><disableApiStop><value>false</value></disableApiStop>`,
        );
      default:
        throw new Error(`the benchmark's fake EC2 does not answer ${operation}`);
    }
  }

  /** One instance as DescribeInstances returns it, with the fields a real answer has (about 2 KB). */
  private instanceXml(i: number): string {
    const id = instanceId(i);
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    return `<item><instanceId>${id}</instanceId><imageId>ami-0123456789abcdef0</imageId><instanceState><code>16</code><name>running</name></instanceState><privateDnsName>ip-${ip.replaceAll('.', '-')}.ec2.internal</privateDnsName><dnsName/><reason/><keyName>student-${i % 40}</keyName><amiLaunchIndex>0</amiLaunchIndex><productCodes/><instanceType>${typeOf(i)}</instanceType><launchTime>${this.fleet.launchTime}</launchTime><placement><availabilityZone>us-east-1a</availabilityZone><groupName/><tenancy>default</tenancy></placement><monitoring><state>disabled</state></monitoring><subnetId>subnet-0123456789abcdef0</subnetId><vpcId>vpc-0123456789abcdef0</vpcId><privateIpAddress>${ip}</privateIpAddress><sourceDestCheck>true</sourceDestCheck><groupSet><item><groupId>sg-0123456789abcdef0</groupId><groupName>ssh-only</groupName></item></groupSet><architecture>x86_64</architecture><rootDeviceType>ebs</rootDeviceType><rootDeviceName>/dev/xvda</rootDeviceName><blockDeviceMapping><item><deviceName>/dev/xvda</deviceName><ebs><volumeId>vol-${i.toString(16).padStart(17, '0')}</volumeId><status>attached</status><attachTime>${this.fleet.launchTime}</attachTime><deleteOnTermination>true</deleteOnTermination></ebs></item></blockDeviceMapping><virtualizationType>hvm</virtualizationType><clientToken/><tagSet><item><key>Name</key><value>notebook-${i}</value></item><item><key>Owner</key><value>student-${i % 40}</value></item>${this.warningTags(i)}</tagSet><hypervisor>xen</hypervisor><networkInterfaceSet><item><networkInterfaceId>eni-${i.toString(16).padStart(17, '0')}</networkInterfaceId><subnetId>subnet-0123456789abcdef0</subnetId><vpcId>vpc-0123456789abcdef0</vpcId><ownerId>123456789012</ownerId><status>in-use</status><privateIpAddress>${ip}</privateIpAddress><sourceDestCheck>true</sourceDestCheck><groupSet><item><groupId>sg-0123456789abcdef0</groupId><groupName>ssh-only</groupName></item></groupSet><attachment><attachmentId>eni-attach-${i.toString(16)}</attachmentId><deviceIndex>0</deviceIndex><status>attached</status><attachTime>${this.fleet.launchTime}</attachTime><deleteOnTermination>true</deleteOnTermination></attachment><privateIpAddressesSet><item><privateIpAddress>${ip}</privateIpAddress><primary>true</primary></item></privateIpAddressesSet></item></networkInterfaceSet><ebsOptimized>false</ebsOptimized><enaSupport>true</enaSupport><cpuOptions><coreCount>1</coreCount><threadsPerCore>2</threadsPerCore></cpuOptions><hibernationOptions><configured>false</configured></hibernationOptions><metadataOptions><state>applied</state><httpTokens>required</httpTokens><httpPutResponseHopLimit>2</httpPutResponseHopLimit><httpEndpoint>enabled</httpEndpoint></metadataOptions><platformDetails>Linux/UNIX</platformDetails><bootMode>uefi-preferred</bootMode></item>`;
  }

  private warningTags(i: number): string {
    const at = this.fleet.idleWarnedAt;
    if (!at || !idle(i)) return '';
    return `<item><key>${TAGS.warnedAt}</key><value>${at}</value></item><item><key>${TAGS.warnRule}</key><value>idle</value></item>`;
  }

  private cloudwatch(
    operation: string,
    input: Record<string, unknown>,
  ): { contentType: string; body: string } {
    if (operation !== 'cloudwatch:GetMetricData')
      throw new Error(`the benchmark's fake CloudWatch does not answer ${operation}`);
    type Query = {
      Id: string;
      MetricStat: { Metric: { MetricName: string; Dimensions: { Value: string }[] } };
    };
    const queries = input.MetricDataQueries as Query[];
    const timestamps: number[] = [];
    for (let k = 0; k < this.fleet.points; k++)
      timestamps.push((this.fleet.firstPointMs + k * 300_000) / 1000);
    const results = queries.map((q) => {
      const i = indexOf(q.MetricStat.Metric.Dimensions[0]?.Value ?? 'i-0');
      const metric = q.MetricStat.Metric.MetricName;
      const value = metric === 'CPUUtilization' ? (idle(i) ? 1 : 40) : idle(i) ? 1_000 : 5_000_000;
      return {
        Id: q.Id,
        Label: metric,
        Timestamps: timestamps,
        Values: timestamps.map(() => value),
        StatusCode: 'Complete',
      };
    });
    return {
      contentType: 'application/x-amz-json-1.0',
      body: JSON.stringify({ MetricDataResults: results, Messages: [] }),
    };
  }
}
