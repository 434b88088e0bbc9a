/**
 * The benchmark's fake AWS (bench/fake-aws.ts) as an HTTP server on 127.0.0.1, in its own process so that its
 * CPU is not counted as the sweep's. Started by bench/run.ts with an IPC channel: `{ configure: FakeAwsOptions }`
 * sets up the next run (answered with `{ port }`), `{ stats: true }` returns the counters of the run, `{ queue: name }`
 * the bodies on a fake SQS queue (answered with `{ bodies }`).
 */
import { FakeAws, type FakeAwsOptions } from './fake-aws.js';

type Message =
  | { configure: FakeAwsOptions }
  | { stats: true }
  | { clearParameters: true }
  | { queue: string };

async function main(): Promise<void> {
  let fake: FakeAws | undefined;
  let port = 0;
  process.on('message', (m: Message) => {
    if ('configure' in m) {
      if (fake) {
        fake.configure(m.configure);
        process.send?.({ port });
        return;
      }
      fake = new FakeAws(m.configure);
      void fake.listen().then((server) => {
        const address = server.address();
        port = typeof address === 'object' && address ? address.port : 0;
        process.send?.({ port });
      });
    } else if ('stats' in m) {
      process.send?.({ stats: fake?.counters() });
    } else if ('queue' in m) {
      process.send?.({ bodies: fake?.queueBodies(m.queue) ?? [] });
    } else if ('clearParameters' in m) {
      fake?.clearParameters();
      process.send?.({ cleared: true });
    }
  });
  process.on('disconnect', () => process.exit(0));
}

void main();
