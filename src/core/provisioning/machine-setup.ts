import { InputError, printable } from '../errors.js';
import { bundledPrice, ebsMonthlyUsd } from '../prices.js';
import { DATASCIENCE_USER_DATA } from './user-data-scripts.js';

/**
 * What an instance launched from a user's template is ready for on its first boot:
 * - `none`: plain Amazon Linux 2023 (the default);
 * - `datascience`: Amazon Linux 2023 plus Python, numpy, pandas, scikit-learn and JupyterLab on 127.0.0.1:8888;
 * - `gpu`: the same on the AWS Deep Learning Base AMI (NVIDIA driver, CUDA), on a GPU type. Never free tier.
 *
 * Named `setup` (CLI `--setup`, roster column `setup`), not "profile": `--profile` is the AWS credentials
 * profile of every command.
 */
export const MACHINE_SETUPS = ['none', 'datascience', 'gpu'] as const;

/** One of MACHINE_SETUPS. */
export type MachineSetup = (typeof MACHINE_SETUPS)[number];

/** The type a `gpu` setup gets when none is given: one NVIDIA T4, the smallest common GPU box. Not free tier. */
export const DEFAULT_GPU_TYPE = 'g4dn.xlarge';

/** The port JupyterLab listens on, on 127.0.0.1 only, in the datascience and gpu setups. */
export const JUPYTER_PORT = 8888;

/**
 * Where the first-boot script keeps the JupyterLab token, relative to ec2-user's home (readable by ec2-user
 * only). Relative, so that `ssh ... cat .jupyter/token` needs no quoting against the local shell's `~`.
 */
export const JUPYTER_TOKEN_FILE = '.jupyter/token';

/** Checks a setup name; absent or empty means `none`. Throws an InputError listing the choices. */
export function parseSetup(value: unknown, field = 'setup'): MachineSetup {
  if (value === undefined || value === '') return 'none';
  const text = typeof value === 'string' ? value.trim().toLowerCase() : '';
  const found = MACHINE_SETUPS.find((s) => s === text);
  if (!found) {
    throw new InputError(
      field,
      `"${printable(String(value).slice(0, 40))}" is not a setup; use one of ${MACHINE_SETUPS.join(', ')} (datascience: Python and JupyterLab on first boot; gpu: the same on the Deep Learning AMI, not free tier)`,
    );
  }
  return found;
}

/** True when the setup runs JupyterLab (and so the instructions need the SSH tunnel). */
export function runsJupyter(setup: MachineSetup): boolean {
  return setup !== 'none';
}

/** The first-boot script (plain text) of a setup; undefined for `none`. */
export function setupScript(setup: MachineSetup): string | undefined {
  return runsJupyter(setup) ? DATASCIENCE_USER_DATA : undefined;
}

/** The launch template's UserData for a setup (base64, as EC2 wants it); undefined for `none`. */
export function setupUserData(setup: MachineSetup): string | undefined {
  const script = setupScript(setup);
  return script === undefined ? undefined : Buffer.from(script, 'utf8').toString('base64');
}

/**
 * The plain-words cost warning for a launch template that is not free tier: the hourly list price of the type
 * (bundled table) and the monthly price of a root volume over the free 30 GiB. Undefined when it is free tier.
 */
export function notFreeTierWarning(facts: {
  instanceType: string;
  region: string;
  freeTierEligible: boolean;
  rootGiB: number;
  freeRootGiB: number;
}): string | undefined {
  const parts: string[] = [];
  if (!facts.freeTierEligible) {
    const price = bundledPrice(facts.instanceType, facts.region);
    parts.push(
      price.usdPerHour === null
        ? `${facts.instanceType} is billed for every hour it runs`
        : `${facts.instanceType} costs about $${price.usdPerHour.toFixed(3)} an hour while it runs (on-demand list price${price.note?.includes('approximation') ? ' in us-east-1; more in most other regions' : ''})`,
    );
  }
  if (facts.rootGiB > facts.freeRootGiB) {
    const ebs = ebsMonthlyUsd('gp3', facts.rootGiB);
    parts.push(
      `its ${facts.rootGiB} GiB root volume is over the free ${facts.freeRootGiB} GiB and costs about $${ebs.usd.toFixed(2)} a month until it is deleted, even while the instance is stopped`,
    );
  }
  return parts.length === 0 ? undefined : `NOT FREE TIER: ${parts.join('; ')}`;
}
