// Lab accounts (docs/lab-accounts.md): `--param roleArn=arn:aws:iam::123456789012:role/LabRole` packages the
// stack so that every function runs as that existing role, and no IAM role or policy is created (AWS Academy
// Learner Lab and similar accounts forbid creating them).
//
// A local serverless plugin, run just before the template is saved: it removes every AWS::IAM::Role of the
// template, every AWS::IAM::Policy / ManagedPolicy attached only to those roles, every AWS::IAM::InstanceProfile
// holding only those roles (the GPU metrics profile: provision then leaves it out of gpu templates), and points
// each function's Role at the ARN. It works on the finished template, so it covers roles that resources/*.yml add later, and
// it fails the packaging, naming them, if anything else still refers to a removed role. Without the parameter
// it does nothing: the default stack is unchanged.
'use strict';

const ROLE_ARN = /^arn:aws(-cn|-us-gov)?:iam::\d{12}:role\/([\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;

/** The role ARN of --param roleArn, checked; undefined when not given. Throws an Error that says the fix. */
function checkRoleArn(value) {
  if (value === undefined || value === null || String(value).trim() === '') return undefined;
  const arn = String(value).trim();
  if (!ROLE_ARN.test(arn)) {
    throw new Error(
      `--param roleArn="${arn}" is not an IAM role ARN. Give the full ARN of the existing role, e.g. ` +
        '--param roleArn=arn:aws:iam::123456789012:role/LabRole  ' +
        '(print it with: aws iam get-role --role-name LabRole --query Role.Arn --output text)',
    );
  }
  return arn;
}

const POLICY_TYPES = new Set(['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy']);

function refTo(value) {
  if (value && typeof value === 'object' && !Array.isArray(value) && typeof value.Ref === 'string')
    return value.Ref;
  return undefined;
}

/** Every place in `node` that names one of `ids` (Ref, Fn::GetAtt, Fn::Sub, DependsOn), as JSON paths. */
function referencesTo(node, ids, path, out) {
  if (Array.isArray(node)) {
    node.forEach((item, i) => {
      referencesTo(item, ids, `${path}[${i}]`, out);
    });
    return out;
  }
  if (!node || typeof node !== 'object') return out;
  for (const [key, value] of Object.entries(node)) {
    const here = `${path}.${key}`;
    if (key === 'Ref' && ids.has(value)) out.push(`${here} -> ${value}`);
    else if (key === 'Fn::GetAtt') {
      const target = Array.isArray(value) ? value[0] : String(value).split('.')[0];
      if (ids.has(target)) out.push(`${here} -> ${target}`);
    } else if (key === 'Fn::Sub') {
      const text = Array.isArray(value) ? value[0] : value;
      for (const m of String(text).matchAll(/\$\{([^}.!]+)(\.[^}]*)?\}/g)) {
        if (ids.has(m[1])) out.push(`${here} -> ${m[1]}`);
      }
    } else if (key === 'DependsOn') {
      for (const d of [].concat(value)) if (ids.has(d)) out.push(`${here} -> ${d}`);
    }
    referencesTo(value, ids, here, out);
  }
  return out;
}

/**
 * Rewrites a compiled CloudFormation template to use the existing role `arn`: removes the IAM roles and the
 * policies attached only to them, sets every function's Role. Returns what it removed. Throws when something
 * else still refers to a removed role (it would fail in CloudFormation; better at packaging).
 */
function useExistingRole(template, arn) {
  const resources = template.Resources || {};
  const roles = new Set(
    Object.keys(resources).filter((id) => resources[id] && resources[id].Type === 'AWS::IAM::Role'),
  );
  const removed = { roles: [...roles].sort(), policies: [], instanceProfiles: [] };
  for (const [id, resource] of Object.entries(resources)) {
    if (!POLICY_TYPES.has(resource.Type)) continue;
    const props = resource.Properties || {};
    const attached = [].concat(props.Roles || []);
    const kept = attached.filter((r) => !roles.has(refTo(r)));
    const elsewhere = [].concat(props.Users || [], props.Groups || []).length > 0;
    if (kept.length === attached.length) continue;
    if (kept.length === 0 && !elsewhere) {
      delete resources[id];
      removed.policies.push(id);
    } else {
      props.Roles = kept;
    }
  }
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::IAM::InstanceProfile') continue;
    const held = [].concat(resource.Properties?.Roles || []);
    if (held.every((r) => roles.has(refTo(r)))) {
      delete resources[id];
      removed.instanceProfiles.push(id);
    }
  }
  for (const id of roles) delete resources[id];
  const gone = new Set([...roles, ...removed.policies, ...removed.instanceProfiles]);
  for (const resource of Object.values(resources)) {
    if (resource.Type === 'AWS::Lambda::Function') {
      resource.Properties.Role = arn;
    }
    if (resource.DependsOn !== undefined) {
      const deps = [].concat(resource.DependsOn).filter((d) => !gone.has(d));
      if (deps.length === 0) delete resource.DependsOn;
      else resource.DependsOn = deps;
    }
  }
  const left = referencesTo(template, gone, '$', []);
  if (left.length > 0) {
    throw new Error(
      `--param roleArn: the stack still refers to IAM resources that are not created with an existing role:\n  ${left.join('\n  ')}\n` +
        'Make those references conditional on the role being created, or remove them.',
    );
  }
  removed.policies.sort();
  removed.instanceProfiles.sort();
  return removed;
}

/** The serverless plugin: applies useExistingRole when the stack is packaged with --param roleArn. */
class ExistingRolePlugin {
  constructor(serverless, options, utils) {
    this.serverless = serverless;
    this.options = options || {};
    this.log = utils?.log || { notice: (text) => console.log(text) };
    this.hooks = {
      // Check the ARN before anything is bundled; rewrite the template just before it is saved.
      initialize: () => this.roleArn(),
      'before:aws:package:finalize:saveServiceState': () => this.apply(),
    };
  }

  /** The checked ARN; a bad one is reported as a user error (no stack trace). */
  roleArn() {
    try {
      return this.readRoleArn();
    } catch (err) {
      const UserError = this.serverless.classes?.Error || Error;
      throw new UserError(err.message, 'COST_WATCHDOG_INVALID_ROLE_ARN');
    }
  }

  readRoleArn() {
    for (const item of [].concat(this.options.param || [])) {
      const text = String(item);
      const eq = text.indexOf('=');
      if (eq > 0 && text.slice(0, eq) === 'roleArn') return checkRoleArn(text.slice(eq + 1));
    }
    const params = this.serverless.configurationInput?.params || {};
    const stage = this.options?.stage || 'prod';
    const fromFile = params[stage]?.roleArn || params.default?.roleArn;
    return checkRoleArn(fromFile);
  }

  apply() {
    const arn = this.roleArn();
    if (arn === undefined) return;
    const template = this.serverless.service.provider.compiledCloudFormationTemplate;
    let removed;
    try {
      removed = useExistingRole(template, arn);
    } catch (err) {
      const UserError = this.serverless.classes?.Error || Error;
      throw new UserError(err.message, 'COST_WATCHDOG_ROLE_STILL_REFERENCED');
    }
    this.log.notice(
      `cost-watchdog: every function runs as ${arn}; not created: ${removed.roles.length} IAM role(s), ` +
        `${removed.policies.length} IAM policy(ies) and ${removed.instanceProfiles.length} instance profile(s). ` +
        "That role's permissions apply, not the stack's least-privilege ones.",
    );
  }
}

module.exports = ExistingRolePlugin;
module.exports.useExistingRole = useExistingRole;
module.exports.checkRoleArn = checkRoleArn;
