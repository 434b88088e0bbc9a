/**
 * An SSM Parameter Store in memory behind aws-sdk-client-mock: GetParameter and PutParameter as SSM answers them
 * (ParameterNotFound, Overwrite, the 4,096-character limit of standard parameters).
 */
import {
  GetParameterCommand,
  type GetParameterCommandInput,
  PutParameterCommand,
  type PutParameterCommandInput,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';

/** The parameters, and the mock (for call assertions). */
export function memorySsm() {
  const parameters = new Map<string, string>();
  const ssm = mockClient(SSMClient);
  const error = (name: string, message: string) => Object.assign(new Error(message), { name });
  ssm
    .on(GetParameterCommand)
    .callsFake((input: GetParameterCommandInput) => {
      const value = parameters.get(input.Name ?? '');
      if (value === undefined) throw error('ParameterNotFound', `parameter ${input.Name} not found`);
      return { Parameter: { Name: input.Name, Value: value } };
    })
    .on(PutParameterCommand)
    .callsFake((input: PutParameterCommandInput) => {
      const name = input.Name ?? '';
      if (parameters.has(name) && !input.Overwrite) throw error('ParameterAlreadyExists', name);
      if ((input.Value ?? '').length > 4096) throw error('ValidationException', `${name}: over 4096 characters`);
      parameters.set(name, input.Value ?? '');
      return { Version: 1 };
    });
  return { parameters, ssm };
}
