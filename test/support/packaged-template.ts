import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const CACHE = join(ROOT, '.serverless-test');

/** A CloudFormation resource of the packaged template. */
export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: unknown;
  Condition?: string;
}

/** The packaged CloudFormation template. */
export interface Template {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, unknown>;
  Conditions?: Record<string, unknown>;
  Parameters?: Record<string, unknown>;
}

/** What a project folder for `serverless package` is made of (besides node_modules and watchdog.yml). */
const PROJECT_FILES = ['serverless.yml', 'package.json', 'package-lock.json', 'tsconfig.json'];
const PROJECT_FOLDERS = ['resources', 'scripts', 'src'];

function inputsHash(params: readonly string[], policy: string | undefined): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(params));
  if (policy !== undefined) h.update('policy').update(policy);
  const files = ['serverless.yml', 'watchdog.yml', 'package.json', 'package-lock.json'];
  // Everything serverless.yml reads (resource files, the scripts its ${file(...)} variables and plugins run)
  // and everything the function bundles are built from (src, the dependencies pinned in package-lock.json).
  for (const folder of ['resources', 'scripts', 'src']) {
    const dir = join(ROOT, folder);
    if (existsSync(dir))
      for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort()) {
        if (statSync(join(dir, f)).isFile()) files.push(join(folder, f));
      }
  }
  for (const f of files) {
    const path = join(ROOT, f);
    if (existsSync(path)) h.update(f).update(readFileSync(path));
  }
  return h.digest('hex').slice(0, 16);
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** How to package besides the `--param` pairs. */
export interface PackageOptions {
  /**
   * The text of watchdog.yml to package with, instead of the project's: the project is copied to a temporary
   * folder with this policy (as a user who edited watchdog.yml would deploy it).
   */
  policy?: string;
}

/**
 * Runs `serverless package` (offline, no credentials) once per distinct set of stack inputs and returns the
 * template. Test files in parallel workers share the result through a cache folder, one lock per set of inputs.
 * `params` are extra `--param key=value` pairs (e.g. roleArn); alertEmail=ci@example.com is always given.
 */
export function packagedTemplate(
  params: Readonly<Record<string, string>> = {},
  options: PackageOptions = {},
): Template {
  const dir = packageDir(params, options);
  return JSON.parse(readFileSync(join(dir, 'cloudformation-template-update-stack.json'), 'utf8')) as Template;
}

/** The deployment zip serverless built for a function (e.g. `sweep`): what Lambda would run. */
export function packagedFunctionZip(
  fn: string,
  params: Readonly<Record<string, string>> = {},
  options: PackageOptions = {},
): string {
  const zip = join(packageDir(params, options), `${fn}.zip`);
  if (!existsSync(zip)) throw new Error(`serverless package made no ${fn}.zip`);
  return zip;
}

/** Extracts a deployment zip into `dir` with `unzip`, or Python's zipfile where there is no `unzip`. */
export function extractZip(zip: string, dir: string): void {
  try {
    execFileSync('unzip', ['-q', '-o', zip, '-d', dir], { stdio: 'pipe' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    execFileSync('python3', ['-m', 'zipfile', '-e', zip, dir], { stdio: 'pipe' });
  }
}

/**
 * A copy of the project with `policy` as its watchdog.yml (node_modules linked, not copied), beside `dir`:
 * `serverless package --package dir` empties dir first.
 */
function projectWith(policy: string, dir: string): string {
  return projectCopy(policy, `${dir}-project`);
}

/**
 * A copy of the project in `project` (emptied first) with `policy` as its watchdog.yml, node_modules linked: for
 * serverless commands that write into the project (invoke local builds into .esbuild/).
 */
export function projectCopy(policy: string, project: string): string {
  rmSync(project, { recursive: true, force: true });
  mkdirSync(project, { recursive: true });
  for (const f of PROJECT_FILES) if (existsSync(join(ROOT, f))) cpSync(join(ROOT, f), join(project, f));
  for (const d of PROJECT_FOLDERS) cpSync(join(ROOT, d), join(project, d), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(project, 'node_modules'), 'dir');
  writeFileSync(join(project, 'watchdog.yml'), policy);
  return project;
}

/** Runs `serverless package` once per distinct set of inputs (see packagedTemplate) and returns its folder. */
function packageDir(params: Readonly<Record<string, string>>, options: PackageOptions = {}): string {
  const extra = Object.entries(params)
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([k, v]) => ['--param', `${k}=${v}`]);
  const dir = join(CACHE, inputsHash(extra, options.policy));
  const file = join(dir, 'cloudformation-template-update-stack.json');
  if (!existsSync(file)) {
    mkdirSync(CACHE, { recursive: true });
    // One lock per set of inputs: different stacks package at once (each in its own copy of the project, so their
    // builds never share a folder); the same one is packaged once and read by the others.
    const lock = `${dir}.lock`;
    const started = Date.now();
    for (;;) {
      try {
        mkdirSync(lock);
        break;
      } catch {
        // Another worker is packaging this stack; a lock older than 5 minutes is left over from a killed run.
        if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 300_000)
          rmSync(lock, { recursive: true, force: true });
        if (Date.now() - started > 300_000)
          throw new Error('timed out waiting for another serverless package run');
        sleep(250);
      }
    }
    try {
      if (!existsSync(file)) {
        const policy = options.policy ?? readFileSync(join(ROOT, 'watchdog.yml'), 'utf8');
        const cwd = projectWith(policy, dir);
        try {
          execFileSync(
            process.execPath,
            [
              join(ROOT, 'node_modules/serverless/bin/serverless.js'),
              'package',
              '--package',
              dir,
              '--param',
              'alertEmail=ci@example.com',
              ...extra,
            ],
            {
              cwd,
              stdio: 'pipe',
              env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' },
            },
          );
        } catch (err) {
          // What serverless said, so a test (and whoever reads its failure) sees why packaging failed.
          const { stdout, stderr } = err as { stdout?: Buffer; stderr?: Buffer };
          throw new Error(`serverless package failed:\n${stdout ?? ''}${stderr ?? ''}`, { cause: err });
        }
      }
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
  return dir;
}

/** Every IAM policy statement of a role resource, flattened. */
export function roleStatements(template: Template, roleLogicalId: string): Record<string, unknown>[] {
  const role = template.Resources[roleLogicalId];
  if (role?.Type !== 'AWS::IAM::Role') throw new Error(`no IAM role ${roleLogicalId} in the template`);
  const policies = (role.Properties?.Policies ?? []) as {
    PolicyDocument: { Statement: Record<string, unknown>[] };
  }[];
  return policies.flatMap((p) => p.PolicyDocument.Statement);
}

/** The actions of a statement as a list. */
export function actionsOf(statement: Record<string, unknown>): string[] {
  const a = statement.Action;
  return Array.isArray(a) ? (a as string[]) : typeof a === 'string' ? [a] : [];
}
