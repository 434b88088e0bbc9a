import type { SigningKeyStore } from '../aws/signing-key.js';
import { type ActionLinks, buildActionLinks } from '../core/action-links.js';
import type { Decision } from '../core/evaluate.js';
import type { Policy } from '../core/policy.js';
import type { LinksById } from '../core/render.js';

/** What signing the links of a sweep's warnings needs. */
export interface ActionLinkSigning {
  /** The actions function URL. */
  actionsUrl: string;
  /** The stack's account: only its instances get links (the actions function acts there only). */
  account: string;
  keys: Pick<SigningKeyStore, 'readOrCreate'>;
  policy: Policy;
  now: Date;
}

/**
 * Signs keep / keep-until-tomorrow / stop links for warned instances of the stack's own account (member
 * accounts of a multi-account sweep get none: the actions function has no access there), each bound to the
 * warning on its decision (`warnedAt`: the one the sweep just wrote, or the existing one). The key is read
 * afresh from SSM, or created on the first run that needs it, once per call.
 */
export async function signActionLinks(warned: Decision[], signing: ActionLinkSigning): Promise<LinksById> {
  // A link answers one warning: an instance whose warning time is unknown gets none.
  const mine = warned.filter(
    (d): d is Decision & { warnedAt: string } =>
      (d.account === undefined || d.account === signing.account) && d.warnedAt !== null,
  );
  const out = new Map<string, ActionLinks>();
  if (mine.length === 0) return out;
  const key = await signing.keys.readOrCreate();
  for (const d of mine) {
    out.set(
      d.instanceId,
      buildActionLinks({
        baseUrl: signing.actionsUrl,
        key,
        instanceId: d.instanceId,
        region: d.region,
        account: signing.account,
        warnedAt: d.warnedAt,
        ...(d.kind ? { kind: d.kind } : {}),
        now: signing.now,
        timeZone: signing.policy.timeZone,
        // Warned while quiet hours hold (for them or another rule): "keep until tomorrow" covers them to their end.
        ...(d.measured.quietHours ? { keepAtLeastUntil: d.measured.quietHours.end } : {}),
      }),
    );
  }
  return out;
}

/** The `actionLinks` option of a sweep or summary that signs with `links` at `now`; none without them. */
export function actionLinksOption(
  links: Omit<ActionLinkSigning, 'policy' | 'now'> | undefined,
  policy: Policy,
  now: Date,
): { actionLinks?: (warned: Decision[]) => Promise<LinksById> } {
  if (!links) return {};
  const { actionsUrl, account, keys } = links;
  return { actionLinks: (warned) => signActionLinks(warned, { actionsUrl, account, keys, policy, now }) };
}
