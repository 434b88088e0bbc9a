import {
  DeleteParametersCommand,
  GetParameterCommand,
  GetParametersByPathCommand,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { runTimeOf } from '../core/fan-out.js';
import { NAMES } from '../core/names.js';
import { chunk } from './clients.js';

/** IAM actions on the parameters under NAMES.runParameterPrefix (and on that path, for the clean-up). */
export const RUN_CLAIM_PERMISSIONS = [
  'ssm:GetParameter',
  'ssm:PutParameter',
  'ssm:GetParametersByPath',
  'ssm:DeleteParameters',
] as const;

/** Claims of runs older than this are deleted (standard parameters are limited to 10,000 an account and region). */
export const RUN_CLAIM_KEEP_MS = 3 * 24 * 3_600_000;

/** Where a fanned-out run stands, as its claim says. */
export type RunState = 'running' | 'summarized';

/**
 * One SSM standard parameter per fanned-out run (free), `<prefix><runId>`: created with Overwrite false by the first
 * invocation for the run (a second delivery of the same schedule event finds it and does nothing), overwritten with
 * `summarized` once the summary went out; read to tell a late result of an earlier run from one still awaited.
 */
export class RunClaims {
  constructor(
    private readonly client: SSMClient,
    private readonly prefix: string = NAMES.runParameterPrefix,
  ) {}

  /** Claims the run; false when another invocation claimed it first. */
  async claim(runId: string, facts: Record<string, unknown>): Promise<boolean> {
    try {
      await this.put(runId, { ...facts, state: 'running' }, false);
      return true;
    } catch (err) {
      if ((err as { name?: string })?.name === 'ParameterAlreadyExists') return false;
      throw err;
    }
  }

  /** Marks the run summarized, with its figures. */
  async finish(runId: string, facts: Record<string, unknown>): Promise<void> {
    await this.put(runId, { ...facts, state: 'summarized' }, true);
  }

  /** Writes the run's parameter (a free standard String); `overwrite` false fails if it exists. */
  private async put(runId: string, value: Record<string, unknown>, overwrite: boolean): Promise<void> {
    await this.client.send(
      new PutParameterCommand({
        Name: this.prefix + runId,
        Value: JSON.stringify(value),
        Type: 'String',
        Tier: 'Standard',
        Overwrite: overwrite,
      }),
    );
  }

  /** The state of a run, or undefined when it has no claim (never claimed, or deleted after RUN_CLAIM_KEEP_MS). */
  async state(runId: string): Promise<RunState | undefined> {
    try {
      const res = await this.client.send(new GetParameterCommand({ Name: this.prefix + runId }));
      const state = (JSON.parse(res.Parameter?.Value ?? '{}') as { state?: unknown }).state;
      return state === 'summarized' ? 'summarized' : 'running';
    } catch (err) {
      if ((err as { name?: string })?.name === 'ParameterNotFound') return undefined;
      throw err;
    }
  }

  /** Deletes the claims of runs older than RUN_CLAIM_KEEP_MS before `now`; returns how many. */
  async cleanUp(now: Date): Promise<number> {
    const old: string[] = [];
    let token: string | undefined;
    do {
      const res = await this.client.send(
        new GetParametersByPathCommand({
          Path: this.prefix.replace(/\/$/, ''),
          MaxResults: 10,
          NextToken: token,
        }),
      );
      for (const p of res.Parameters ?? []) {
        const at = p.Name ? runTimeOf(p.Name.slice(this.prefix.length)) : null;
        if (p.Name && at && now.getTime() - at.getTime() > RUN_CLAIM_KEEP_MS) old.push(p.Name);
      }
      token = res.NextToken;
    } while (token);
    for (const names of chunk(old, 10)) await this.client.send(new DeleteParametersCommand({ Names: names }));
    return old.length;
  }
}
