/**
 * Ec2Adapter.runningPages(): DescribeInstances page by page, the next page asked for as soon as one has arrived,
 * and the parts of each instance the sweep never reads left out before the SDK parses them. Real SDK client,
 * real middleware; the answers come from a request handler in this file.
 */
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import type { HttpRequest } from '@smithy/types';
import { describe, expect, it } from 'vitest';
import { indentXml } from '../../bench/fake-aws.js';
import { Ec2Adapter } from '../../src/aws/ec2.js';
import { fieldsToInstanceReads } from '../support/ec2-fields.js';
import {
  instancesOfPage,
  UNREAD_INSTANCE_PARTS,
  withoutReservations,
  withoutUnreadParts,
} from '../../src/aws/ec2-pages.js';

const XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

/** One instance with every part an EC2 answer can have, the unread ones included. */
function richInstance(id: string, n: number): string {
  return `<item><instanceId>${id}</instanceId><imageId>ami-1</imageId><instanceState><code>16</code><name>running</name></instanceState><privateDnsName>ip-10-0-0-${n}.ec2.internal</privateDnsName><dnsName/><reason/><keyName>k</keyName><amiLaunchIndex>0</amiLaunchIndex><productCodes><item><productCode>p1</productCode><type>marketplace</type></item></productCodes><instanceType>${n === 2 ? 'g4dn.xlarge' : 't3.micro'}</instanceType><launchTime>2026-11-25T09:00:00.000Z</launchTime><placement><availabilityZone>us-east-1a</availabilityZone><groupName/><tenancy>default</tenancy></placement><monitoring><state>disabled</state></monitoring><subnetId>subnet-1</subnetId><vpcId>vpc-1</vpcId><privateIpAddress>10.0.0.${n}</privateIpAddress>${n === 1 ? '<ipAddress>54.1.2.3</ipAddress>' : ''}<sourceDestCheck>true</sourceDestCheck><groupSet><item><groupId>sg-a${n}</groupId><groupName>ssh</groupName></item><item><groupId>sg-b${n}</groupId><groupName>web</groupName></item></groupSet><stateReason><code>x</code><message>y</message></stateReason><architecture>x86_64</architecture><rootDeviceType>${n === 3 ? 'instance-store' : 'ebs'}</rootDeviceType><rootDeviceName>/dev/xvda</rootDeviceName><blockDeviceMapping><item><deviceName>/dev/xvda</deviceName><ebs><volumeId>vol-${n}</volumeId><status>attached</status><attachTime>2026-11-25T09:00:00.000Z</attachTime><deleteOnTermination>true</deleteOnTermination></ebs></item></blockDeviceMapping><virtualizationType>hvm</virtualizationType>${n === 2 ? '<instanceLifecycle>spot</instanceLifecycle>' : ''}<clientToken/><tagSet><item><key>Name</key><value>nb &amp; &lt;networkInterfaceSet&gt; ${n}</value></item><item><key>placement</key><value>Grüße 🚀</value></item><item><key>Owner</key><value>alice</value></item></tagSet><hypervisor>xen</hypervisor><iamInstanceProfile><arn>arn:aws:iam::1:instance-profile/p</arn><id>AIPA</id></iamInstanceProfile><networkInterfaceSet><item><networkInterfaceId>eni-${n}</networkInterfaceId><groupSet><item><groupId>sg-eni</groupId><groupName>eni</groupName></item></groupSet><association><publicIp>54.1.2.3</publicIp></association><privateIpAddressesSet><item><privateIpAddress>10.0.0.${n}</privateIpAddress><primary>true</primary></item></privateIpAddressesSet></item></networkInterfaceSet><ebsOptimized>false</ebsOptimized><enaSupport>true</enaSupport><cpuOptions><coreCount>1</coreCount><threadsPerCore>2</threadsPerCore></cpuOptions><capacityReservationSpecification><capacityReservationPreference>open</capacityReservationPreference></capacityReservationSpecification><hibernationOptions><configured>${n === 1}</configured></hibernationOptions><licenseSet><item><licenseConfigurationArn>arn:l</licenseConfigurationArn></item></licenseSet><metadataOptions><state>applied</state><httpTokens>required</httpTokens></metadataOptions><enclaveOptions><enabled>false</enabled></enclaveOptions><privateDnsNameOptions><hostnameType>ip-name</hostnameType></privateDnsNameOptions><maintenanceOptions><autoRecovery>default</autoRecovery></maintenanceOptions><networkPerformanceOptions><bandwidthWeighting>default</bandwidthWeighting></networkPerformanceOptions><elasticGpuAssociationSet/><elasticInferenceAcceleratorAssociationSet/>${n === 3 ? '<operator><managed>true</managed><principal>eks.amazonaws.com</principal></operator>' : ''}<platformDetails>Linux/UNIX</platformDetails><bootMode>uefi-preferred</bootMode></item>`;
}

const page = (instances: string, token?: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse xmlns="${XMLNS}"><requestId>r</requestId><reservationSet><item><reservationId>r-1</reservationId><ownerId>1</ownerId><groupSet/><instancesSet>${instances}</instancesSet></item></reservationSet>${token ? `<nextToken>${token}</nextToken>` : ''}</DescribeInstancesResponse>`;

/** An EC2 client whose requests `answer` serves (status and XML), with every request's form recorded. */
function client(answer: (form: URLSearchParams) => { status?: number; xml: string }, asked: string[] = []) {
  const handler = {
    async handle(request: HttpRequest) {
      const form = new URLSearchParams(String(request.body));
      asked.push(`ask:${form.get('NextToken') ?? '-'}`);
      const { status = 200, xml } = answer(form);
      return {
        response: { statusCode: status, headers: { 'content-type': 'text/xml' }, body: Buffer.from(xml) },
      };
    },
    updateHttpClientConfig() {},
    httpHandlerConfigs: () => ({}),
  };
  return new EC2Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    requestHandler: handler,
    maxAttempts: 3,
    retryMode: 'standard',
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Ec2Adapter.runningPages', () => {
  it('leaves out only parts toInstance never reads: the instances equal those of the whole answer', async () => {
    // Prepare: a page of three rich instances; getRunning() reads one instance from the whole answer
    const ids = ['i-1', 'i-2', 'i-3'];
    const whole = ids.map((id, k) => richInstance(id, k + 1));
    const adapter = new Ec2Adapter(
      client((form) => {
        const only = form.get('InstanceId.1');
        return { xml: page(only ? (whole[ids.indexOf(only)] as string) : whole.join('')) };
      }),
      'us-east-1',
    );

    // Act
    const paged = await adapter.listRunning();
    const one = await Promise.all(ids.map((id) => adapter.getRunning(id)));

    // Assess
    expect(paged).toEqual(one);
    expect(
      paged.map((i) => [i.publicIp, i.lifecycle, i.rootDeviceType, i.operator, i.hibernationConfigured]),
    ).toEqual([
      ['54.1.2.3', undefined, 'ebs', undefined, true],
      [undefined, 'spot', 'ebs', undefined, false],
      [undefined, undefined, 'instance-store', 'eks.amazonaws.com', false],
    ]);
    expect(paged[0]?.securityGroupIds).toEqual(['sg-a1', 'sg-b1']);
    expect(paged[0]?.tags).toMatchObject({ Name: 'nb & <networkInterfaceSet> 1', placement: 'Grüße 🚀' });
    const stripped = withoutUnreadParts(page(whole.join('')));
    for (const part of UNREAD_INSTANCE_PARTS) expect(stripped).not.toContain(`<${part}>`);
    expect(stripped.length).toBeLessThan(page(whole.join('')).length * 0.6);
  });

  it('reads an answer laid out as EC2 lays it out as the compact one, without passing its layout to the SDK', async () => {
    // Prepare: the same rich page compact and indented (EC2's four spaces a level); a tag value with a `>`, a line
    // break and spaces of its own before its end tag
    const own = '<item><key>Note</key><value>a &gt; b>\n   </value></item>';
    const compact = page(
      ['i-1', 'i-2', 'i-3']
        .map((id, k) => richInstance(id, k + 1).replace('<tagSet>', `<tagSet>${own}`))
        .join(''),
    );
    const indented = indentXml(compact.slice(compact.indexOf('<DescribeInstancesResponse')));
    const read = (xml: string) =>
      new Ec2Adapter(
        client(() => ({ xml })),
        'us-east-1',
      ).listRunning();

    // Act
    const [fromCompact, fromIndented] = await Promise.all([read(compact), read(indented)]);

    // Assess
    expect(indented.split('\n').length).toBeGreaterThan(200);
    expect(fromIndented).toEqual(fromCompact);
    expect(fromIndented.map((i) => i.tags.Note)).toEqual(Array(3).fill('a > b>    '));
    const stripped = withoutUnreadParts(indented);
    expect(stripped).toBe(withoutUnreadParts(compact.slice(compact.indexOf('<DescribeInstancesResponse'))));
    expect(stripped).toContain('<value>a &gt; b>\n   </value>');
  });

  it('asks for the next page when a page has arrived, and never two pages ahead of the one the caller holds', async () => {
    // Prepare: three pages of one instance each
    const asked: string[] = [];
    const next: Record<string, string | undefined> = { '-': 'p2', p2: 'p3', p3: undefined };
    const ec2 = client((form) => {
      const token = form.get('NextToken') ?? '-';
      return { xml: page(richInstance(`i-${token}`, 1), next[token]) };
    }, asked);
    // Around the SDK's deserializer: notes when a page has been parsed
    const parsed: number[] = [];
    ec2.middlewareStack.add(
      (next) => async (args) => {
        const result = await next(args);
        parsed.push(asked.length);
        return result;
      },
      { step: 'deserialize', priority: 'high' },
    );
    const adapter = new Ec2Adapter(ec2, 'us-east-1');

    // Act: the caller holds each page for a while before asking for the next
    const held: number[] = [];
    const seen: string[] = [];
    for await (const instances of adapter.runningPages()) {
      seen.push(...instances.map((i) => i.instanceId));
      held.push(asked.length);
      await sleep(30);
      held.push(asked.length);
    }

    // Assess: page 2 was asked for before page 1 was parsed, and page 3 not while page 1 was held
    expect(seen).toEqual(['i--', 'i-p2', 'i-p3']);
    expect(parsed[0]).toBe(2);
    expect(held.slice(0, 2)).toEqual([2, 2]);
    expect(held.slice(3)).toEqual([3, 3, 3]);
    expect(asked).toEqual(['ask:-', 'ask:p2', 'ask:p3']);
  });

  it('follows a nextToken only the parser can read (escaped), and a page that was throttled once', async () => {
    const asked: string[] = [];
    let throttled = false;
    const adapter = new Ec2Adapter(
      client((form) => {
        const token = form.get('NextToken');
        if (token === 'a&b' && !throttled) {
          throttled = true;
          return {
            status: 503,
            xml: '<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>slow down</Message></Error></Errors></Response>',
          };
        }
        return { xml: page(richInstance(token ? 'i-2' : 'i-1', 1), token ? undefined : 'a&amp;b') };
      }, asked),
      'us-east-1',
    );

    const instances = await adapter.listRunning();

    expect(instances.map((i) => i.instanceId)).toEqual(['i-1', 'i-2']);
    expect(asked).toEqual(['ask:-', 'ask:a&b', 'ask:a&b']);
  });

  it('reads the instances of a page as the SDK reads them, on the shapes an answer can take', async () => {
    // Prepare: pages with one reservation of one instance, several reservations, none, and odd but valid parts
    const bare = (id: string, inner: string) =>
      `<item><instanceId>${id}</instanceId><instanceType>t3.micro</instanceType>${inner}</item>`;
    const reservation = (...instances: string[]) =>
      `<item><reservationId>r</reservationId><instancesSet>${instances.join('')}</instancesSet></item>`;
    const answer = (reservations: string) =>
      `<DescribeInstancesResponse xmlns="${XMLNS}"><requestId>r</requestId>${reservations}</DescribeInstancesResponse>`;
    const pages = [
      page(richInstance('i-1', 1)),
      page(['i-1', 'i-2', 'i-3'].map((id, k) => richInstance(id, k + 1)).join('')),
      answer(
        `<reservationSet>${reservation(richInstance('i-1', 1), richInstance('i-2', 2))}${reservation(richInstance('i-3', 3))}</reservationSet>`,
      ),
      answer('<reservationSet/>'),
      answer(''),
      answer(
        `<reservationSet>${reservation(
          bare(
            'i-a',
            '<tagSet><item><key>Owner</key><value/></item><item><key>blank</key><value>\n   </value></item><item><key>lines</key><value>a\r\nb&#x41;&#65;&quot;</value></item></tagSet><instanceState/><hibernationOptions><configured>TRUE</configured></hibernationOptions>',
          ),
          bare(
            'i-b',
            '<tagSet/><groupSet/><operator><managed>false</managed></operator><launchTime>2026-11-25T09:00:00Z</launchTime>',
          ),
          bare(
            'i-c',
            '<tagSet><item/><item><key>k</key></item></tagSet><groupSet><item><groupId>sg-1</groupId></item></groupSet><hibernationOptions/>',
          ),
          '<item/>',
        )}</reservationSet>`,
      ),
    ];

    for (const [k, xml] of pages.entries()) {
      // Act: the SDK reads the page as the adapter leaves it (withoutUnreadParts); so does instancesOfPage()
      const read = withoutUnreadParts(xml);
      const bySdk = await client(() => ({ xml: read }))
        .send(new DescribeInstancesCommand({ MaxResults: 5 }))
        .then((o) => (o.Reservations ?? []).flatMap((r) => r.Instances ?? []));
      const ours = instancesOfPage(read);

      // Assess
      expect(ours.map(fieldsToInstanceReads), `page ${k}`).toEqual(bySdk.map(fieldsToInstanceReads));
    }
    expect(instancesOfPage(withoutUnreadParts(pages[2] as string)).map((i) => i.InstanceId)).toEqual([
      'i-1',
      'i-2',
      'i-3',
    ]);
    expect(instancesOfPage(pages[5] as string).map((i) => i.HibernationOptions)).toEqual([
      { Configured: true },
      undefined,
      {},
      undefined,
    ]);
  });

  it('leaves the SDK only the answer around the reservations: its requestId and nextToken', () => {
    const rest = withoutReservations(page(richInstance('i-1', 1) + richInstance('i-2', 2), 'a&amp;b'));
    expect(rest).toBe(
      `<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse xmlns="${XMLNS}"><requestId>r</requestId><reservationSet/><nextToken>a&amp;b</nextToken></DescribeInstancesResponse>`,
    );
    expect(withoutReservations(page(''))).toContain('<reservationSet/></DescribeInstancesResponse>');
  });

  it('leaves a page it cannot read to the SDK, which fails on it as it always does', async () => {
    // Prepare: a launch time that is not a date
    const bad = page(richInstance('i-1', 1).replace('2026-11-25T09:00:00.000Z', 'yesterday'));
    expect(() => instancesOfPage(withoutUnreadParts(bad))).toThrow('launchTime yesterday is not a date');
    const adapter = new Ec2Adapter(
      client(() => ({ xml: bad })),
      'us-east-1',
    );

    // Act + Assess: the SDK's own error, not one of ours
    await expect(adapter.listRunning()).rejects.toThrow(/yesterday|date|time/i);
    await expect(adapter.listRunning()).rejects.not.toThrow('launchTime yesterday is not a date');
  });
});
