import { main } from './main.js';

// The SDK warns once per process on Node.js 20 that its 2027 releases will need Node.js 22 (aws-sdk-js-v3#7983).
// The CLI supports Node.js 20 (package.json engines) and the functions run on nodejs22.x: the warning tells a CLI
// user nothing they can act on. Its documented switch, unless the user has set it either way.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** The `cost-watchdog` executable: real stdout/stderr/env, exit status via process.exitCode. */
main(process.argv.slice(2), {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  env: process.env,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`error: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
