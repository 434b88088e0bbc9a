/**
 * The sweep of an earlier commit, built as that commit built it, to run against the same fake AWS in the same
 * benchmark: "CPU per 10,000 instances halved" (#16) is measured against the code before #16 on the same machine,
 * the same day and the same answers, not against a figure from another day and another fake.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { build } from 'esbuild';

/** The last commit before #16's work (docs/scale.md, "Against the code before #16"). */
export const BASELINE_COMMIT = '3f6f690';

/** A baseline sweep ready to invoke: its handler file and its own policy (budget set, as the bench's). */
export interface BaselineBuild {
  commit: string;
  handler: string;
  policyFile: string;
}

function git(root: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/**
 * Checks out `rev` in a worktree under `dir` (removed again before this returns), builds its sweep handler with that
 * commit's own esbuild settings and this checkout's node_modules, and writes its packaged policy with the budget
 * set. Returns why not when the commit is not in this clone (a shallow clone) or does not build.
 */
export async function buildBaseline(
  root: string,
  rev: string,
  dir: string,
): Promise<BaselineBuild | { missing: string }> {
  const tree = join(dir, 'tree');
  let commit: string;
  try {
    commit = git(root, 'rev-parse', '--verify', `${rev}^{commit}`);
    git(root, 'worktree', 'add', '--detach', tree, commit);
  } catch (err) {
    return {
      missing: `commit ${rev} is not in this clone (${String((err as Error).message).split('\n')[0]})`,
    };
  }
  try {
    symlinkSync(join(root, 'node_modules'), join(tree, 'node_modules'));
    const bundling = createRequire(join(tree, 'package.json'))('./scripts/bundling.cjs') as {
      LAMBDA_BUILD: Record<string, unknown>;
      plugins?: () => unknown[];
    };
    const out = join(dir, 'fn', 'src', 'handlers');
    mkdirSync(out, { recursive: true });
    const esm = bundling.LAMBDA_BUILD.format === 'esm';
    await build({
      ...bundling.LAMBDA_BUILD,
      plugins: (bundling.plugins?.() ?? []) as never,
      entryPoints: { sweep: join(tree, 'src', 'handlers', 'sweep.ts') },
      outdir: out,
      ...(esm ? {} : { outExtension: { '.js': '.cjs' } }),
      logLevel: 'error',
    });
    const handler = readdirSync(out).find((f) => /^sweep\.(c|m)?js$/.test(f));
    if (!handler) return { missing: `commit ${rev} built no sweep handler` };
    const packaged = readFileSync(join(tree, 'watchdog.yml'), 'utf8');
    const policyFile = join(dir, 'watchdog.yml');
    writeFileSync(policyFile, packaged.replace(/^( {2}monthlyUsd:) null/m, '$1 1000'));
    writeFileSync(join(dir, 'fn', 'watchdog.yml'), readFileSync(policyFile));
    return { commit, handler: join(out, handler), policyFile };
  } catch (err) {
    return { missing: `commit ${rev} did not build: ${String((err as Error).message).split('\n')[0]}` };
  } finally {
    if (existsSync(tree)) {
      try {
        git(root, 'worktree', 'remove', '--force', tree);
      } catch {
        // Left for `git worktree prune`: the bench's temporary folder goes anyway.
      }
    }
  }
}
