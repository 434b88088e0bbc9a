import { type IAMClient, ListAccountAliasesCommand } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import { describeError } from '../../core/errors.js';

/**
 * IAM actions this adapter uses: the account alias of the console sign-in URL. sts:GetCallerIdentity needs no
 * permission.
 */
export const ACCOUNT_PERMISSIONS = ['iam:ListAccountAliases'] as const;

/** The account the credentials belong to: its id, partition and (when it has one) its alias. */
export interface AccountIdentity {
  accountId: string;
  /** aws, aws-cn or aws-us-gov: from the caller's ARN. */
  partition: string;
  alias?: string;
}

/** Who provision runs as: the account id (STS) and the account alias (IAM) of the students' sign-in URL. */
export class AccountDirectory {
  private identity: Promise<AccountIdentity> | undefined;

  constructor(
    private readonly sts: STSClient,
    private readonly iam: IAMClient,
  ) {}

  /** The account id and partition (GetCallerIdentity, once per run). */
  async whoAmI(): Promise<Omit<AccountIdentity, 'alias'>> {
    this.identity ??= this.lookUp();
    const { alias: _alias, ...rest } = await this.identity;
    return rest;
  }

  /**
   * The account with its alias. An alias IAM does not let us read is left out (the sign-in URL then uses the
   * account id, which works as well); `aliasError` says why.
   */
  async withAlias(): Promise<AccountIdentity & { aliasError?: string }> {
    const identity = await this.whoAmI();
    try {
      const res = await this.iam.send(new ListAccountAliasesCommand({}));
      const alias = res.AccountAliases?.[0];
      return alias ? { ...identity, alias } : identity;
    } catch (err) {
      return { ...identity, aliasError: describeError(err) };
    }
  }

  private async lookUp(): Promise<AccountIdentity> {
    const res = await this.sts.send(new GetCallerIdentityCommand({}));
    if (!res.Account) throw new Error('sts:GetCallerIdentity returned no account id');
    const partition = res.Arn?.split(':')[1] || 'aws';
    return { accountId: res.Account, partition };
  }
}
