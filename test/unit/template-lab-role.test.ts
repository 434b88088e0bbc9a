import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import { packagedTemplate, type Template } from '../support/packaged-template.js';

interface Removed {
  roles: string[];
  policies: string[];
  instanceProfiles: string[];
}
/** The plugin's class, as serverless constructs it. */
type PluginClass = new (
  serverless: unknown,
  options: { param?: string[] },
  utils: { log: { notice(text: string): void } },
) => { hooks: Record<string, () => void> };
const plugin = createRequire(import.meta.url)('../../scripts/existing-role.cjs') as PluginClass & {
  useExistingRole(template: Template, arn: string): Removed;
  checkRoleArn(value: unknown): string | undefined;
};

const LAB_ROLE = 'arn:aws:iam::123456789012:role/LabRole';
const ofType = (template: Template, type: string) =>
  Object.entries(template.Resources).filter(([, r]) => r.Type === type);

describe('the packaged stack with --param roleArn (lab accounts)', () => {
  let lab: Template;
  let standard: Template;
  beforeAll(() => {
    lab = packagedTemplate({ roleArn: LAB_ROLE });
    standard = packagedTemplate();
  }, 300_000);

  it('creates no IAM role, IAM policy or instance profile (the GPU metrics one included)', () => {
    expect(ofType(standard, 'AWS::IAM::InstanceProfile').map(([id]) => id)).toEqual([
      'GpuMetricsInstanceProfile',
    ]);
    expect(ofType(lab, 'AWS::IAM::Role')).toEqual([]);
    expect(ofType(lab, 'AWS::IAM::Policy')).toEqual([]);
    expect(ofType(lab, 'AWS::IAM::ManagedPolicy')).toEqual([]);
    expect(ofType(lab, 'AWS::IAM::InstanceProfile')).toEqual([]);
  });

  it('runs every function as the given role', () => {
    const functions = ofType(lab, 'AWS::Lambda::Function');
    expect(functions.length).toBe(ofType(standard, 'AWS::Lambda::Function').length);
    for (const [id, fn] of functions) {
      expect(fn.Properties?.Role, id).toBe(LAB_ROLE);
      expect(JSON.stringify(fn.DependsOn ?? []), id).not.toMatch(/Role/);
    }
  });

  it('keeps everything else of the default stack', () => {
    const iam = new Set([
      'AWS::IAM::Role',
      'AWS::IAM::Policy',
      'AWS::IAM::ManagedPolicy',
      'AWS::IAM::InstanceProfile',
    ]);
    const others = (t: Template) =>
      Object.entries(t.Resources)
        .filter(([, r]) => !iam.has(r.Type))
        .map(([id]) => id)
        .sort();
    expect(others(lab)).toEqual(others(standard));
  });

  it('leaves the default packaging unchanged: a role per function, none of them the lab role', () => {
    const functions = ofType(standard, 'AWS::Lambda::Function');
    expect(ofType(standard, 'AWS::IAM::Role').length).toBeGreaterThanOrEqual(functions.length);
    for (const [id, fn] of functions) {
      expect(fn.Properties?.Role, id).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/Role$/), 'Arn'] });
    }
    expect(JSON.stringify(standard)).not.toContain('LabRole');
  });
});

describe('checking --param roleArn', () => {
  it.each([
    'arn:aws:iam::123456789012:role/LabRole',
    'arn:aws:iam::123456789012:role/service-role/my.role_1',
    'arn:aws-cn:iam::123456789012:role/LabRole',
  ])('accepts the role ARN %s', (arn) => {
    expect(plugin.checkRoleArn(arn)).toBe(arn);
  });

  it.each([
    'LabRole',
    'arn:aws:iam::123456789012:user/alice',
    'arn:aws:iam::12345:role/LabRole',
    'arn:aws:iam::123456789012:role/',
    'arn:aws:sts::123456789012:assumed-role/LabRole/session',
  ])('refuses %s with the fix in the message', (value) => {
    expect(() => plugin.checkRoleArn(value)).toThrow(
      /is not an IAM role ARN.*--param roleArn=arn:aws:iam::123456789012:role\/LabRole/,
    );
  });

  it('treats an empty value as not given', () => {
    expect(plugin.checkRoleArn('')).toBeUndefined();
    expect(plugin.checkRoleArn(undefined)).toBeUndefined();
  });
});

describe('rewriting a template for an existing role', () => {
  const base = (): Template => ({
    Resources: {
      FnRole: { Type: 'AWS::IAM::Role', Properties: {} },
      OtherRole: { Type: 'AWS::IAM::Role', Properties: {} },
      Fn: {
        Type: 'AWS::Lambda::Function',
        Properties: { Role: { 'Fn::GetAtt': ['FnRole', 'Arn'] } },
        DependsOn: ['FnLogGroup', 'FnRole'],
      },
      FnLogGroup: { Type: 'AWS::Logs::LogGroup', Properties: {} },
      OnlyOurRoles: {
        Type: 'AWS::IAM::Policy',
        Properties: { Roles: [{ Ref: 'FnRole' }, { Ref: 'OtherRole' }] },
      },
      SharedWithAUser: {
        Type: 'AWS::IAM::ManagedPolicy',
        Properties: { Roles: [{ Ref: 'FnRole' }], Users: ['someone'] },
      },
    },
  });

  it('removes the roles and the policies attached only to them, and keeps a policy that has other holders', () => {
    // Prepare
    const template = base();

    // Act
    const removed = plugin.useExistingRole(template, LAB_ROLE);

    // Assess
    expect(removed).toEqual({
      roles: ['FnRole', 'OtherRole'],
      policies: ['OnlyOurRoles'],
      instanceProfiles: [],
    });
    expect(Object.keys(template.Resources).sort()).toEqual(['Fn', 'FnLogGroup', 'SharedWithAUser']);
    expect(template.Resources.Fn).toMatchObject({
      Properties: { Role: LAB_ROLE },
      DependsOn: ['FnLogGroup'],
    });
    expect(template.Resources.SharedWithAUser?.Properties?.Roles).toEqual([]);
  });

  it('removes an instance profile that holds only a removed role', () => {
    // Prepare
    const template = base();
    template.Resources.Profile = {
      Type: 'AWS::IAM::InstanceProfile',
      Properties: { InstanceProfileName: 'p', Roles: [{ Ref: 'OtherRole' }] },
    };

    // Act
    const removed = plugin.useExistingRole(template, LAB_ROLE);

    // Assess
    expect(removed.instanceProfiles).toEqual(['Profile']);
    expect(template.Resources).not.toHaveProperty('Profile');
  });

  it('keeps an instance profile that holds a role the template does not create', () => {
    // Prepare
    const template = base();
    template.Resources.Profile = {
      Type: 'AWS::IAM::InstanceProfile',
      Properties: { Roles: ['SomeoneElsesRole'] },
    };

    // Act
    const removed = plugin.useExistingRole(template, LAB_ROLE);

    // Assess
    expect(removed.instanceProfiles).toEqual([]);
    expect(template.Resources.Profile?.Properties?.Roles).toEqual(['SomeoneElsesRole']);
  });

  it('fails, naming the place, when something still refers to a removed instance profile', () => {
    // Prepare
    const template = base();
    template.Resources.Profile = {
      Type: 'AWS::IAM::InstanceProfile',
      Properties: { Roles: [{ Ref: 'OtherRole' }] },
    };
    template.Resources.Lt = {
      Type: 'AWS::EC2::LaunchTemplate',
      Properties: {
        LaunchTemplateData: { IamInstanceProfile: { Arn: { 'Fn::GetAtt': ['Profile', 'Arn'] } } },
      },
    };

    // Act / Assess
    expect(() => plugin.useExistingRole(template, LAB_ROLE)).toThrow(
      /still refers to IAM resources.*Profile/s,
    );
  });

  it('counts the roles, policies and instance profiles it left out in its notice', () => {
    // Prepare
    const template = base();
    template.Resources.Profile = {
      Type: 'AWS::IAM::InstanceProfile',
      Properties: { Roles: [{ Ref: 'FnRole' }] },
    };
    const notices: string[] = [];
    const serverless = { service: { provider: { compiledCloudFormationTemplate: template } } };
    const instance = new plugin(
      serverless,
      { param: [`roleArn=${LAB_ROLE}`] },
      { log: { notice: (t) => notices.push(t) } },
    );

    // Act
    instance.hooks['before:aws:package:finalize:saveServiceState']?.();

    // Assess
    expect(notices).toEqual([
      expect.stringContaining(
        `every function runs as ${LAB_ROLE}; not created: 2 IAM role(s), 1 IAM policy(ies) and 1 instance profile(s).`,
      ),
    ]);
    expect(template.Resources).not.toHaveProperty('Profile');
  });

  it.each([
    ['a GetAtt in an output', { Outputs: { R: { Value: { 'Fn::GetAtt': ['FnRole', 'Arn'] } } } }],
    [
      'a Sub in a resource',
      { Resources: { Q: { Type: 'AWS::SQS::Queue', Properties: { P: { 'Fn::Sub': '${FnRole.Arn}' } } } } },
    ],
  ])('fails, naming the place, when %s still refers to a removed role', (_, extra) => {
    // Prepare
    const template = base();
    Object.assign(template.Resources, (extra as Partial<Template>).Resources ?? {});
    const outputs = (extra as Partial<Template>).Outputs;
    if (outputs) template.Outputs = outputs;

    // Act / Assess
    expect(() => plugin.useExistingRole(template, LAB_ROLE)).toThrow(
      /still refers to IAM resources.*FnRole/s,
    );
  });
});
