/**
 * How AWS Lambda's Node.js runtime starts Node for a function, so that the benchmark's memory figures are the
 * function's: the runtime's bootstrap sizes V8's heap from the configured memory (AWS_LAMBDA_FUNCTION_MEMORY_SIZE):
 * new space = memory / 10, each semi-space half of that, old space = memory - new space, passed as
 * --max-semi-space-size and --max-old-space-size. Without them Node sizes its heap from the machine's RAM and
 * collects garbage much later, so a plain `node` run shows a higher peak RSS than the function would have.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

/** The V8 flags the Lambda Node.js runtime passes for a function of `memoryMB`. */
export function lambdaNodeFlags(memoryMB: number): string[] {
  const newSpace = Math.floor(memoryMB / 10);
  return [`--max-semi-space-size=${Math.floor(newSpace / 2)}`, `--max-old-space-size=${memoryMB - newSpace}`];
}

/** The memory size serverless.yml gives a function: its own `memorySize`, else the provider's, else 1024. */
export function functionMemoryMB(root: string, fn: string): number {
  // logLevel silent: CloudFormation tags (!Ref, !GetAtt) are not YAML the parser knows; they are not read here.
  const doc = parse(readFileSync(join(root, 'serverless.yml'), 'utf8'), { logLevel: 'silent' }) as {
    provider?: { memorySize?: unknown };
    functions?: Record<string, { memorySize?: unknown }>;
  };
  const value = doc.functions?.[fn]?.memorySize ?? doc.provider?.memorySize ?? 1024;
  if (typeof value !== 'number') throw new Error(`serverless.yml: memorySize of ${fn} is not a number`);
  return value;
}
