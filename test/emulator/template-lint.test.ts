/**
 * cfn-lint (pinned in scripts/requirements-emulator.txt, installed into .venv with moto by the emulator's
 * global setup) on the packaged CloudFormation template, so that `npm test` catches what `.ci/run` would.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { packagedTemplate } from '../support/packaged-template.js';

const ROOT = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);

/** cfn-lint of the venv on `file`: its exit code and everything it printed. */
function cfnLint(file: string): Promise<{ code: number; output: string }> {
  return run(join(ROOT, '.venv', 'bin', 'cfn-lint'), [file], { cwd: ROOT }).then(
    ({ stdout }) => ({ code: 0, output: stdout }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({
      code: err.code ?? -1,
      output: `${err.stdout ?? ''}${err.stderr ?? ''}`,
    }),
  );
}

describe('the packaged template', () => {
  it.each([
    ['the project watchdog.yml', undefined],
    // The generated member-role statements (scripts/serverless-params.cjs) differ per watchdog.yml.
    ['accounts and organization: true', 'organization: true\naccounts:\n  - id: "111122223333"\n'],
    // Quiet hours add sweep schedules and a StartInstances statement (morningStart).
    [
      'quiet hours with morningStart',
      'timeZone: Europe/Berlin\nquietHours:\n  morningStart: true\n  windows: [{ days: [mon, tue, wed, thu, fri], from: "22:00", to: "07:00" }]\n',
    ],
  ])(
    'passes cfn-lint with the repository settings (.cfnlintrc.yaml), packaged with %s',
    async (_what, policy) => {
      // Prepare
      const file = join(
        mkdtempSync(join(tmpdir(), 'cw-template-')),
        'cloudformation-template-update-stack.json',
      );
      writeFileSync(file, JSON.stringify(packagedTemplate({}, policy === undefined ? {} : { policy })));

      // Act
      const result = await cfnLint(file);

      // Assess
      expect(result.output).toBe('');
      expect(result.code).toBe(0);
    },
    300_000,
  );

  it.each(['resources/forwarder.yml', 'resources/member-role.yml'])(
    'standalone template %s (deployed with aws cloudformation deploy or as a StackSet) passes cfn-lint',
    async (file) => {
      // Act
      const result = await cfnLint(file);

      // Assess
      expect(result.output).toBe('');
      expect(result.code).toBe(0);
    },
    60_000,
  );
});
