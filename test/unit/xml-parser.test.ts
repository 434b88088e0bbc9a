/**
 * scripts/aws-xml-parser.ts stands in for the AWS SDK's XML parser in the function bundles: it must give the same
 * object (keys in the same order) or throw the same error as the SDK's own parser, for AWS answers and for anything
 * else. The bundles use it only while the SDK's parser is the version compared here.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseXML as sdkParseXML } from '@aws-sdk/xml-builder';
import { build } from 'esbuild';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FakeAws } from '../../bench/fake-aws.js';
import { parseXML } from '../../scripts/aws-xml-parser.js';
import bundling from '../../scripts/bundling.cjs';

const { LAMBDA_BUILD, XML_PARSER_SHA256, plugins } = bundling;
const SDK_PARSER = createRequire(import.meta.url)
  .resolve('@aws-sdk/xml-builder/package.json')
  .replace(/package\.json$/, 'dist-es/xml-parser.js');

/** What a parser made of `xml`: the value (as JSON, so key order counts) or the error message. */
function outcome(parse: (xml: string) => unknown, xml: string): string {
  try {
    return `ok ${JSON.stringify(parse(xml))}`;
  } catch (err) {
    return `error ${(err as Error).message}`;
  }
}

const same = (xml: string) => expect(outcome(parseXML, xml)).toBe(outcome(sdkParseXML, xml));

const ec2 = (body: string) => {
  const aws = new FakeAws({
    fleet: { 'us-east-1': 50 },
    scenario: 'steady',
    now: Date.parse('2026-11-25T14:00:00Z'),
    latency: { baseMs: 0, perInstanceMs: 0, perDatapointMs: 0 },
    throttle: { limits: false, randomShare: 0, seed: 1 },
    wait: false,
  });
  return aws.respond({
    headers: { authorization: 'AWS4-HMAC-SHA256 Credential=x/20261125/us-east-1/ec2/aws4_request' },
    body,
  }).body;
};

describe('the bundles’ XML parser', () => {
  it.each([
    ['a DescribeInstances page', ec2('Action=DescribeInstances&MaxResults=1000')],
    ['a DescribeInstanceTypes answer', ec2('Action=DescribeInstanceTypes&InstanceType.1=t3.micro')],
    ['an EC2 error', ec2('Action=DescribeInstances&MaxResults=5000')],
    [
      'an SNS answer',
      '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">\n  <PublishResult>\n    <MessageId>1</MessageId>\n  </PublishResult>\n</PublishResponse>\n',
    ],
  ])('reads %s as the SDK does', (_name, xml) => {
    same(xml);
    expect(outcome(parseXML, xml)).toMatch(/^ok /);
  });

  it.each([
    ['entities', '<a>x &amp; &lt;y&gt; &quot;&apos; &#65;&#x42; &unknown; &constructor; &#x110000;</a>'],
    ['CDATA, comments and instructions', '<a><![CDATA[<b>raw & </b>]]><!-- c --><?pi x?>t<b/></a>'],
    ['mixed text and children', '<a>one<b>1</b>two<b>2</b><c/>three</a>'],
    ['whitespace with a newline', '<a>\n  <b>1</b>\n  <b> </b>\n</a>'],
    ['CRLF line ends', '<a>\r\n<b>x\r\ny</b>\r</a>'],
    ['attributes', `<a x="1" y='2' z = "3 &amp; 4"><b k="v"/><c k="v">t</c></a>`],
    ['an attribute without quotes', '<a x=1 y="2">t</a>'],
    [
      '__proto__ and constructor names',
      '<a __proto__="p"><__proto__>1</__proto__><constructor>2</constructor></a>',
    ],
    ['prototype names as children', '<a><toString>1</toString><toString>2</toString><hasOwnProperty/></a>'],
    [
      'a prolog, comments and a doctype',
      '<?xml version="1.0"?>\n<!-- c -->\n<!DOCTYPE a [<!ENTITY e "x">]>\n<a/>',
    ],
    ['a lower-case doctype after a dotted capital I', '<!-- \u0130 --><!doctype a><a>1</a>'],
    ['unicode text', '<a>Grüße 🚀 \u0130stanbul</a>'],
    ['tabs around names', '<a\t x="1"\t><b\n/></a\t>'],
  ])('reads %s as the SDK does', (_name, xml) => same(xml));

  it.each([
    ['an unclosed element', '<a><b></a>'],
    ['mismatched tags', '<a></b>'],
    ['text before the root', 'x<a/>'],
    ['no root', '  <!-- only -->  '],
    ['an unclosed doctype', '<!DOCTYPE a [ <a/>'],
    ['an unterminated comment', '<a><!-- x</a>'],
    ['an unterminated CDATA', '<a><![CDATA[x</a>'],
    ['a broken self-closing tag', '<a/ >'],
    ['a broken opening tag', '<a x="1" ?>'],
    ['input that ends in a tag', '<a x="1"'],
    ['input that ends in an attribute', '<a x='],
  ])('fails on %s with the SDK’s error', (_name, xml) => {
    same(xml);
    expect(outcome(parseXML, xml)).toMatch(/^error @aws-sdk XML parse error/);
  });

  it('gives the same result or the same error on generated XML-like text', () => {
    const token = fc.constantFrom(
      '<a>',
      '</a>',
      '<b x="1">',
      '</b>',
      '<c/>',
      '<__proto__>',
      '</__proto__>',
      '<toString>',
      '</toString>',
      '<d y=\'&amp;\' z="q">',
      '</d>',
      'text',
      ' ',
      '\n',
      '\r\n',
      '&amp;',
      '&#65;',
      '&bogus;',
      '<![CDATA[<x>]]>',
      '<!-- c -->',
      '<?p i?>',
      '<!DOCTYPE r>',
      '\u0130',
      '<',
      '>',
      '/',
      '=',
      '"',
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 40 }), (tokens) => {
        const xml = tokens.join('');
        expect(outcome(parseXML, xml)).toBe(outcome(sdkParseXML, xml));
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 2000) },
    );
  });

  it('replaces the SDK parser only in the version it was compared with', async () => {
    // After an SDK update this fails: compare the new xml-parser.js with scripts/aws-xml-parser.ts (and this
    // test's cases), then set XML_PARSER_SHA256 in scripts/bundling.cjs to the new hash.
    const hash = createHash('sha256').update(readFileSync(SDK_PARSER)).digest('hex');
    expect(hash).toBe(XML_PARSER_SHA256);
    const bundled = await build({
      ...LAMBDA_BUILD,
      minify: false,
      plugins: plugins(),
      stdin: { contents: "export { parseXML } from '@aws-sdk/xml-builder';", resolveDir: process.cwd() },
      write: false,
      logLevel: 'error',
    });
    const code = bundled.outputFiles[0]?.text ?? '';
    expect(code).toContain('isDoctype()');
    expect(code).not.toContain('class AwsXmlParser');
  });
});
