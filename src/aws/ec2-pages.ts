/**
 * The pages of Ec2Adapter.runningPages(), read from EC2's raw answer: the parts the sweep never reads are left out,
 * the nextToken is read from the end of the answer so the next page can be asked for at once, and the instances are
 * taken from the answer as parsed by the SDK's own XML parser, without the SDK's schema-driven deserializer, which
 * spent more CPU turning each instance into objects than the parse itself (docs/scale.md, CPU).
 */
import type {
  DescribeInstancesCommandInput,
  DescribeInstancesCommandOutput,
  Instance as Ec2Instance,
  InstanceLifecycleType,
  InstanceStateName,
  _InstanceType,
  DeviceType,
} from '@aws-sdk/client-ec2';
import type { DeserializeMiddleware } from '@smithy/types';
import { SaxesParser } from 'saxes';
import { readRawAnswer } from './raw-answer.js';

/**
 * Parts of a DescribeInstances answer that toInstance() never reads: nested structures and plain fields that make
 * up more than three quarters of each instance's XML, and of the SDK's work to turn it into objects. readRawPage()
 * leaves them out of the pages of runningPages() before the SDK parses them (test/unit/ec2-pages.test.ts checks
 * that the instances come out the same with and without them).
 */
export const UNREAD_INSTANCE_PARTS = [
  'networkInterfaceSet',
  'blockDeviceMapping',
  'placement',
  'monitoring',
  'cpuOptions',
  'metadataOptions',
  'productCodes',
  'privateDnsNameOptions',
  'maintenanceOptions',
  'capacityReservationSpecification',
  'enclaveOptions',
  'networkPerformanceOptions',
  'elasticGpuAssociationSet',
  'elasticInferenceAcceleratorAssociationSet',
  'licenseSet',
  'iamInstanceProfile',
  'stateReason',
  'imageId',
  'privateDnsName',
  'dnsName',
  'reason',
  'keyName',
  'amiLaunchIndex',
  'subnetId',
  'vpcId',
  'privateIpAddress',
  'sourceDestCheck',
  'architecture',
  'rootDeviceName',
  'virtualizationType',
  'clientToken',
  'hypervisor',
  'ebsOptimized',
  'enaSupport',
  'platformDetails',
  'bootMode',
  // Inside parts that are read: the state's code (its name is read) and the security groups' names (their ids are).
  'code',
  'groupName',
  // The reservation around the instances.
  'reservationId',
  'ownerId',
  'requesterId',
] as const;

/**
 * `<part>...</part>` and `<part/>` of the parts above. None of them holds an element of its own name, and EC2 escapes
 * `<` in text, so the first closing tag of the name ends the part.
 */
const UNREAD = new RegExp(
  `<(${UNREAD_INSTANCE_PARTS.join('|')})>[\\s\\S]*?</\\1>|<(?:${UNREAD_INSTANCE_PARTS.join('|')})/>`,
  'g',
);

/**
 * The line breaks and indentation that follow a tag and come before the next one. EC2 lays its answers out four
 * spaces a level, and the SDK's parser would read all of it character by character. The white space must follow a
 * whole tag (`<` and `>` with neither between them): text may hold `>` and line breaks (a tag value "a>\n" keeps
 * them), never a bare `<`.
 */
const LAYOUT = /(<[^<>]*>)\s*\n\s*(?=<)/g;

/** A DescribeInstances answer without the parts toInstance() never reads, and without its layout. */
export function withoutUnreadParts(xml: string): string {
  return xml.replace(UNREAD, '').replace(LAYOUT, '$1');
}

/** What readRawPage() tells runningPages() about its page. */
export interface RawPageHooks {
  /** This middleware's request goes to the HTTP client. */
  sent(): void;
  /**
   * The nextToken at the end of the raw answer, or undefined when it has none or it cannot be read that way (the
   * caller then uses the parsed one). When it starts the next request it returns a promise of that request being
   * sent, and the parsing (tens of ms of CPU for 1,000 instances, which would hold the request back) waits for it.
   */
  found(token: string | undefined): Promise<void> | undefined;
  /** The page's instances, read from the answer (not called when the answer could not be read: see below). */
  read(instances: Ec2Instance[]): void;
}

/**
 * The middleware for the pages of runningPages() (readRawAnswer): it leaves out the parts toInstance() never reads
 * (withoutUnreadParts), hands the nextToken to `found`, then the page's instances to `read` (instancesOfPage), and
 * leaves the SDK only the answer around them (its requestId and nextToken). An answer that is not a page as
 * expected (a parse error, say) goes to the SDK whole, which reads it, or fails on it, as it always does.
 */
export function readRawPage(
  hooks: RawPageHooks,
): DeserializeMiddleware<DescribeInstancesCommandInput, DescribeInstancesCommandOutput> {
  return readRawAnswer(async (xml) => {
    const tail = xml.slice(-4096);
    const nextSent = hooks.found(
      /<nextToken>([^<&]+)<\/nextToken>\s*<\/DescribeInstancesResponse>\s*$/.exec(tail)?.[1],
    );
    // Let the next request reach its socket (a timer turn) before the parsing takes the CPU; at most 50 ms.
    if (nextSent)
      await Promise.race([
        nextSent.then(() => new Promise((resolve) => setTimeout(resolve, 1))),
        new Promise((resolve) => setTimeout(resolve, 50)),
      ]);
    const read = withoutUnreadParts(xml);
    let instances: Ec2Instance[];
    try {
      instances = instancesOfPage(read);
    } catch {
      return read;
    }
    hooks.read(instances);
    return withoutReservations(read);
  }, hooks.sent);
}

/**
 * The answer around the reservations (requestId, nextToken): from the first `<reservationSet>` to the last
 * `</reservationSet>` (none of their parts has an element of that name) becomes `<reservationSet/>`.
 */
export function withoutReservations(xml: string): string {
  const start = xml.indexOf('<reservationSet>');
  const end = xml.lastIndexOf('</reservationSet>');
  if (start < 0 || end < start) return xml;
  return `${xml.slice(0, start)}<reservationSet/>${xml.slice(end + '</reservationSet>'.length)}`;
}

/**
 * The instances of a DescribeInstances answer (an answer withoutUnreadParts() has read), with the fields
 * Ec2Adapter.toInstance() reads, as the SDK would give them (test/unit/ec2-pages.test.ts compares the two on
 * answers of every shape). Read in one pass with a strict XML parser (saxes), without the SDK's tree of the
 * whole answer. Throws when the XML is not well formed, or a launch time is not a date.
 */
export function instancesOfPage(xml: string): Ec2Instance[] {
  const out: Ec2Instance[] = [];
  /** The names of the open elements; an instance is at DescribeInstancesResponse/reservationSet/item/instancesSet/item. */
  const path: string[] = [];
  let instance: Ec2Instance = {};
  let text = '';
  const parser = new SaxesParser();
  parser.on('opentag', ({ name }) => {
    path.push(name);
    text = '';
    const depth = path.length;
    if (depth < 5 || !isInstancePath(path)) return;
    if (depth === 5) {
      instance = {};
      out.push(instance);
    } else if (depth === 6) {
      if (name === 'instanceState') instance.State ??= {};
      else if (name === 'tagSet') instance.Tags ??= [];
      else if (name === 'groupSet') instance.SecurityGroups ??= [];
      else if (name === 'hibernationOptions') instance.HibernationOptions ??= {};
      else if (name === 'operator') instance.Operator ??= {};
    } else if (depth === 7 && name === 'item') {
      if (path[5] === 'tagSet') instance.Tags?.push({});
      else if (path[5] === 'groupSet') instance.SecurityGroups?.push({});
    }
  });
  parser.on('text', (t) => {
    text += t;
  });
  parser.on('closetag', () => {
    const depth = path.length;
    if (depth >= 6 && isInstancePath(path)) closeField(instance, path, depth, sdkText(text));
    path.pop();
    text = '';
  });
  parser.write(xml).close();
  return out;
}

const INSTANCE_PATH = ['DescribeInstancesResponse', 'reservationSet', 'item', 'instancesSet', 'item'];
const isInstancePath = (path: string[]) => INSTANCE_PATH.every((name, k) => path[k] === name);

/** Text as the SDK's parser gives it: white space alone, over more than one line, is no text. */
const sdkText = (text: string) => (text.includes('\n') && text.trim() === '' ? '' : text);

/** A boolean as the SDK reads one: `true` in any case is true, any other text false. */
const sdkBoolean = (text: string) => text.toLowerCase() === 'true';

/** The end of an element inside an instance (`path` from the answer's root, `depth` its length) with its text. */
function closeField(instance: Ec2Instance, path: string[], depth: number, text: string): void {
  const field = path[5];
  const name = path[depth - 1];
  if (depth === 6) {
    if (field === 'instanceId') instance.InstanceId = text;
    else if (field === 'instanceType') instance.InstanceType = text as _InstanceType;
    else if (field === 'launchTime') {
      const at = new Date(text);
      if (Number.isNaN(at.getTime())) throw new Error(`launchTime ${text} is not a date`);
      instance.LaunchTime = at;
    } else if (field === 'instanceLifecycle') instance.InstanceLifecycle = text as InstanceLifecycleType;
    else if (field === 'rootDeviceType') instance.RootDeviceType = text as DeviceType;
    else if (field === 'ipAddress') instance.PublicIpAddress = text;
  } else if (depth === 7) {
    if (field === 'instanceState' && name === 'name' && instance.State)
      instance.State.Name = text as InstanceStateName;
    else if (field === 'hibernationOptions' && name === 'configured' && instance.HibernationOptions)
      instance.HibernationOptions.Configured = sdkBoolean(text);
    else if (field === 'operator' && name === 'managed' && instance.Operator)
      instance.Operator.Managed = sdkBoolean(text);
    else if (field === 'operator' && name === 'principal' && instance.Operator)
      instance.Operator.Principal = text;
  } else if (depth === 8 && path[6] === 'item') {
    if (field === 'tagSet') {
      const tag = instance.Tags?.at(-1);
      if (tag && name === 'key') tag.Key = text;
      else if (tag && name === 'value') tag.Value = text;
    } else if (field === 'groupSet' && name === 'groupId') {
      const group = instance.SecurityGroups?.at(-1);
      if (group) group.GroupId = text;
    }
  }
}
