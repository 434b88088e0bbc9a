/**
 * The small HTML page an action link opens: readable on a phone, no scripts, no images, no external files,
 * and every value escaped. Pure.
 */

/** How the page looks: done (green), a question to confirm (blue), refused or invalid (red). */
export type PageTone = 'done' | 'confirm' | 'refused';

/** What the page says. */
export interface ActionPage {
  /** HTTP status the page is sent with. */
  status: number;
  tone: PageTone;
  title: string;
  /** The main sentence, e.g. "i-0abc... will not be stopped before Tue 3 Mar 13:40 UTC." */
  message: string;
  /** Further lines (what to do next). */
  details?: string[];
  /** A confirmation button: POSTs `token` back to the same URL. */
  confirm?: { label: string; token: string };
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

const COLORS: Record<PageTone, string> = { done: '#1a7f37', confirm: '#0969da', refused: '#cf222e' };

/** Renders the page as a complete HTML document. */
export function renderActionPage(page: ActionPage): string {
  const color = COLORS[page.tone];
  const details = (page.details ?? []).map((d) => `<p>${escapeHtml(d)}</p>`).join('\n');
  const form = page.confirm
    ? `<form method="post">
<input type="hidden" name="t" value="${escapeHtml(page.confirm.token)}">
<button type="submit">${escapeHtml(page.confirm.label)}</button>
</form>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>${escapeHtml(page.title)} - cost-watchdog</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:1.25rem;background:#f6f8fa;color:#1f2328;line-height:1.5}
main{max-width:34rem;margin:0 auto;background:#fff;border-radius:.75rem;padding:1.25rem;border-top:.4rem solid ${color}}
h1{font-size:1.35rem;margin:0 0 .75rem;color:${color}}
p{font-size:1.05rem;margin:.5rem 0;overflow-wrap:anywhere}
button{font-size:1.1rem;width:100%;padding:.9rem;margin-top:1rem;border:0;border-radius:.5rem;background:${color};color:#fff}
small{color:#59636e}
</style>
</head>
<body>
<main>
<h1>${escapeHtml(page.title)}</h1>
<p>${escapeHtml(page.message)}</p>
${details}
${form}
<p><small>cost-watchdog</small></p>
</main>
</body>
</html>
`;
}
