/**
 * Where the sweep's CPU goes: a V8 CPU profile (node --cpu-prof) of one benchmark invocation, its samples charged
 * to the source module of the innermost bundled frame (an unminified build keeps esbuild's `// path` comments),
 * and the modules grouped into areas a reader can act on. Native frames (JSON.parse, Buffer, ...) count for the
 * bundled code that called them; garbage collection is its own area.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Areas, first match wins: [name, test on the module path]. */
const AREAS: [string, RegExp][] = [
  ['XML parsing (saxes, SDK XML parser)', /@aws-sdk\/xml-builder\/|node_modules\/(saxes|xmlchars)\//],
  [
    'SDK answer to objects (schemas, dates)',
    /XmlShapeDeserializer|JsonShapeDeserializer|NormalizedSchema|FromStringShapeDeserializer|date-utils|get-value-from-text-node|parse-utils|schema-date|HttpBindingProtocol|RpcProtocol|AwsQueryProtocol|AwsEc2QueryProtocol|AwsJson1_[01]Protocol|AwsJsonRpcProtocol|ProtocolLib|collect-stream-body|fromUtf8|toUtf8|util-utf8/,
  ],
  [
    'SDK request path (serialise, sign, retry, HTTP client)',
    /node_modules\/(@smithy|@aws-sdk|@aws-crypto)\//,
  ],
  [
    'DescribeInstances to instances (ec2.ts, ec2-pages.ts, tag cleaning)',
    /src\/aws\/(ec2|ec2-pages|raw-answer)\.ts|src\/core\/text\.ts/,
  ],
  ['metric datapoints (cloudwatch.ts)', /src\/aws\/cloudwatch\.ts/],
  ['evaluate (rules, kinds)', /src\/core\/(evaluate|rules|kinds|instance|local-time)\.ts/],
  ['sweep orchestration and tag writes (jobs)', /src\/jobs\//],
  ['report, alerts, links (render, report)', /src\/core\/(render|report|action-links|digest)\.ts/],
  [
    'usage ledger and prices',
    /src\/core\/(usage|usage-ledger|prices|self-cost)\.ts|src\/aws\/usage-store\.ts/,
  ],
  [
    'policy and handler set-up (zod, yaml)',
    /src\/handlers\/|src\/core\/policy\.ts|node_modules\/(zod|yaml)\//,
  ],
  ['other bundled code', /./],
];

/** CPU milliseconds per area, plus the total, for a profile of a run of the unminified `bundle`. */
export function cpuByArea(
  profileFile: string,
  bundle: string,
): { totalMs: number; areas: Record<string, number> } {
  const prof = JSON.parse(readFileSync(profileFile, 'utf8')) as CpuProfile;
  const lines = readFileSync(bundle, 'utf8').split('\n');
  const modules: [number, string][] = [];
  lines.forEach((l, i) => {
    const m = /^\/\/ (?:\S*\/)?((?:node_modules|src|bench|scripts)\/\S+)$/.exec(l);
    if (m?.[1]) modules.push([i, m[1]]);
  });
  const moduleAt = (line: number): string => {
    let lo = 0;
    let hi = modules.length - 1;
    let found = '';
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const entry = modules[mid] as [number, string];
      if (entry[0] <= line) {
        found = entry[1];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
  const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  prof.samples.forEach((id, k) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[k] ?? 0));
  });
  const bundleName = bundle.split('/').pop() ?? bundle;
  const areas: Record<string, number> = {};
  let total = 0;
  for (const [id, us] of selfUs) {
    const leaf = nodes.get(id)?.callFrame;
    let area: string;
    if (!leaf || leaf.functionName === '(idle)' || leaf.functionName === '(program)') continue;
    if (leaf.functionName === '(garbage collector)') area = 'garbage collection';
    else {
      let module = '';
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const cf = nodes.get(cur)?.callFrame;
        if (cf?.url.endsWith(bundleName)) {
          module = moduleAt(cf.lineNumber);
          break;
        }
      }
      area = module
        ? (AREAS.find(([, test]) => test.test(module))?.[0] ?? 'other bundled code')
        : 'Node internals (sockets, timers, module loading)';
    }
    areas[area] = (areas[area] ?? 0) + us / 1000;
    total += us / 1000;
  }
  const rounded = Object.fromEntries(
    Object.entries(areas)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => [k, Math.round(v)]),
  );
  return { totalMs: Math.round(total), areas: rounded };
}
