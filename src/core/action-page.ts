/**
 * The small HTML page an action link opens: readable on a phone, no scripts, no images, no external files,
 * and every value escaped. Pure.
 */

/**
 * How the page looks: done (green), a question to confirm a keep (blue), a question to confirm a stop (red: the
 * one action that takes a running machine away), refused or invalid (amber: nothing was changed).
 */
export type PageTone = 'done' | 'confirm' | 'danger' | 'refused';

/** One labelled fact about the instance ("Name", "notebook"). */
export interface PageFact {
  label: string;
  value: string;
}

/** What the page says. */
export interface ActionPage {
  /** HTTP status the page is sent with. */
  status: number;
  tone: PageTone;
  title: string;
  /** The main sentence, e.g. "notebook will not be stopped before Tue 3 Mar 13:40 (UTC)." */
  message: string;
  /** What the page is about: Name, instance, type, owner, the rule and why (read from the instance). */
  facts?: PageFact[];
  /** Further lines (what to do next). */
  details?: string[];
  /** A confirmation button: POSTs `token` back to the same URL. */
  confirm?: { label: string; token: string };
  /**
   * Answer with 303 See Other to this URL (relative, e.g. `?t=...&done=1`) instead of the page: a POST that acted
   * sends the browser to a GET that shows the outcome, so a refresh never submits the form again.
   */
  redirect?: string;
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** The accent of each tone (GitHub Primer's success, accent, danger and attention colours: AA on white). */
export const TONE_COLORS: Record<PageTone, string> = {
  done: '#1a7f37',
  confirm: '#0969da',
  danger: '#cf222e',
  refused: '#9a6700',
};

/** What the page's label says above the title, per tone. */
const TONE_LABEL: Record<PageTone, string> = {
  done: 'Done',
  confirm: 'Please confirm',
  danger: 'Confirm: this stops the instance',
  refused: 'Nothing was changed',
};

/** Renders the page as a complete HTML document. */
export function renderActionPage(page: ActionPage): string {
  const color = TONE_COLORS[page.tone];
  const facts = (page.facts ?? []).filter((f) => f.value.trim() !== '');
  const factList =
    facts.length > 0
      ? `<dl>\n${facts.map((f) => `<dt>${escapeHtml(f.label)}</dt><dd>${escapeHtml(f.value)}</dd>`).join('\n')}\n</dl>`
      : '';
  const details = (page.details ?? []).map((d) => `<p>${escapeHtml(d)}</p>`).join('\n');
  const danger = page.tone === 'danger';
  const form = page.confirm
    ? `<form method="post">
<input type="hidden" name="t" value="${escapeHtml(page.confirm.token)}">
<button type="submit" class="${danger ? 'danger' : 'primary'}">${escapeHtml(page.confirm.label)}</button>
</form>
<p class="hint">${danger ? 'Not what you want? Close this page: nothing happens until you press the button.' : 'Close this page to change nothing.'}</p>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>${escapeHtml(page.title)} - cost-watchdog</title>
<style>
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:1rem;background:#f6f8fa;color:#1f2328;line-height:1.5}
main{max-width:34rem;margin:0 auto;background:#fff;border-radius:.75rem;padding:1.25rem;border-top:.4rem solid ${color};box-shadow:0 1px 3px rgba(31,35,40,.12)}
.tone{font-size:.875rem;font-weight:600;letter-spacing:.04em;text-transform:uppercase;color:${color};margin:0 0 .25rem}
h1{font-size:1.35rem;line-height:1.3;margin:0 0 .75rem;color:#1f2328;overflow-wrap:anywhere}
p{font-size:1.05rem;margin:.5rem 0;overflow-wrap:anywhere}
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.3rem .9rem;margin:1rem 0;padding:.75rem .9rem;background:#f6f8fa;border-radius:.5rem;font-size:.98rem}
dt{color:#59636e;font-weight:600}
dd{margin:0;overflow-wrap:break-word}
@media (max-width:30rem){dl{grid-template-columns:minmax(0,1fr);gap:0}dt{font-size:.875rem;margin-top:.45rem}dt:first-child{margin-top:0}}
button{font:inherit;font-size:1.1rem;font-weight:600;width:100%;min-height:3rem;padding:.8rem;margin-top:1rem;border-radius:.5rem;cursor:pointer}
button.primary{border:0;background:${TONE_COLORS.confirm};color:#fff}
button.danger{border:.15rem solid #a40e26;background:${TONE_COLORS.danger};color:#fff}
.hint{font-size:.92rem;color:#59636e;text-align:center}
small{color:#59636e}
</style>
</head>
<body>
<main>
<p class="tone">${escapeHtml(TONE_LABEL[page.tone])}</p>
<h1>${escapeHtml(page.title)}</h1>
<p>${escapeHtml(page.message)}</p>
${factList}
${details}
${form}
<p><small>cost-watchdog</small></p>
</main>
</body>
</html>
`;
}
