import { JUPYTER_PORT, JUPYTER_TOKEN_FILE, type MachineSetup, runsJupyter } from './machine-setup.js';
import { keyParameterName, resourceName } from './roster.js';

/** What the connection instructions need to know about one provisioned user. */
export interface ConnectionFacts {
  user: string;
  region: string;
  ownerTag: string;
  instanceType: string;
  notebookPort?: number;
  consoleLogin: boolean;
  /** What the instance is ready for on first boot; datascience and gpu add the JupyterLab tunnel. */
  setup?: MachineSetup;
  /** Plain words when the template is not free tier; printed first. */
  costWarning?: string;
}

/**
 * Step-by-step instructions for a provisioned user: launch from the template, fetch the key, find the
 * address, connect with ssh or PuTTY, stop when done. Contains names only, never a secret.
 */
export function renderConnectionInstructions(facts: ConnectionFacts): string {
  const name = resourceName(facts.user);
  const pem = `${name}.pem`;
  const r = `--region ${facts.region}`;
  const setup = facts.setup ?? 'none';
  const lines = [
    `Connection instructions for ${facts.user} (${facts.instanceType} in ${facts.region}${setup !== 'none' ? `, setup ${setup}` : ''}):`,
    ...(facts.costWarning ? [facts.costWarning] : []),
    '1. Launch an instance from your template:',
    `   aws ec2 run-instances ${r} --launch-template 'LaunchTemplateName=${name},Version=$Default'`,
    '2. Fetch your private key (once) and protect it:',
    `   aws ssm get-parameter ${r} --name ${keyParameterName(facts.user)} --with-decryption --query Parameter.Value --output text > ${pem}`,
    `   chmod 600 ${pem}`,
    '3. Find its public address:',
    `   aws ec2 describe-instances ${r} --filters 'Name=tag:${facts.ownerTag},Values=${facts.user}' 'Name=instance-state-name,Values=running' --query 'Reservations[].Instances[].PublicDnsName' --output text`,
    '4. Connect:',
    `   ssh -i ${pem} ec2-user@HOST`,
    `   PuTTY (Windows): PuTTY cannot read .pem files. Open ${pem} in PuTTYgen (Conversions > Import key), click`,
    `   "Save private key" as ${name}.ppk, then in PuTTY use Host Name ec2-user@HOST and`,
    '   Connection > SSH > Auth > Credentials > Private key file = the .ppk (PuTTY 0.75 or newer reads ed25519 keys).',
  ];
  let step = 5;
  if (runsJupyter(setup)) {
    lines.push(
      `${step++}. JupyterLab: the instance installs Python, numpy, pandas, scikit-learn and JupyterLab on its first boot`,
      `   (about 5 minutes; progress in /var/log/cost-watchdog-setup.log). It listens on localhost only: tunnel to it`,
      `   ssh -i ${pem} -L ${JUPYTER_PORT}:localhost:${JUPYTER_PORT} ec2-user@HOST`,
      `   then open http://localhost:${JUPYTER_PORT}/lab with the token that  ssh -i ${pem} ec2-user@HOST cat ${JUPYTER_TOKEN_FILE}  prints.`,
      '   PuTTY: Connection > SSH > Tunnels, source port 8888, destination localhost:8888, Add.',
    );
  }
  if (facts.notebookPort !== undefined) {
    lines.push(
      `${step++}. Jupyter: start it with --ip=0.0.0.0 --port=${facts.notebookPort} and open http://HOST:${facts.notebookPort}, or tunnel:`,
      `   ssh -i ${pem} -L ${facts.notebookPort}:localhost:${facts.notebookPort} ec2-user@HOST`,
    );
  }
  lines.push(
    `${step}. Stop it when you are done (idle instances are stopped for you after a warning):`,
    `   aws ec2 stop-instances ${r} --instance-ids i-...`,
  );
  if (facts.consoleLogin) {
    lines.push(
      'Console: sign in with the password your instructor gives you; you must change it at the first sign-in.',
      `MFA (recommended): Security credentials > Assign MFA device > Authenticator app, device name ${facts.user}`,
      '(the only name you may give it).',
    );
  }
  return lines.join('\n');
}
