/**
 * Reading an AWS answer before the SDK does. The sweep's two big answers (DescribeInstances pages of 1,000
 * instances, GetMetricData batches of 500 series) cost more CPU in the SDK's schema-driven deserializer than
 * anything else in a sweep; their adapters read what they need from the raw answer and leave the SDK only the rest
 * (src/aws/ec2-pages.ts, src/aws/cloudwatch.ts; docs/scale.md, CPU).
 */
import type { Readable } from 'node:stream';
import type { DeserializeMiddleware, HttpResponse } from '@smithy/types';

/**
 * A deserialize-step middleware (added with priority `low`, the innermost: it sees the raw answer first). `sent`
 * is called when its request goes to the HTTP client. For a 200 answer with a body, `answer` gets the body's text
 * and returns the text the SDK is to read instead (undefined: the body as it came). Error answers go to the SDK
 * untouched, so its errors and retries are the usual ones.
 */
export function readRawAnswer<Input extends object, Output extends object>(
  answer: (text: string) => Promise<string | undefined> | string | undefined,
  sent?: () => void,
): DeserializeMiddleware<Input, Output> {
  return (next) => async (args) => {
    sent?.();
    const result = await next(args);
    const response = result.response as HttpResponse | undefined;
    if (response?.statusCode !== 200) return result;
    const bytes = await bodyBytes(response.body);
    if (!bytes) return result;
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    const rest = await answer(text);
    response.body = rest === undefined ? bytes : Buffer.from(rest);
    return result;
  };
}

/** The bytes of a response body that is already bytes or a Node stream; undefined for anything else. */
async function bodyBytes(body: unknown): Promise<Uint8Array | undefined> {
  if (body instanceof Uint8Array) return body;
  if (body && typeof (body as Readable).pipe === 'function' && Symbol.asyncIterator in (body as object)) {
    const chunks: Buffer[] = [];
    for await (const chunk of body as Readable)
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    return Buffer.concat(chunks);
  }
  return undefined;
}
