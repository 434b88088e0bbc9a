/**
 * Text from tags and users, made safe to show: one line, no control, format or bidi characters, a length cap.
 * Applied once where the text enters the program (the EC2 and CloudWatch adapters, the snapshot parser, handler
 * events, CLI arguments, roster rows), so every email, page, log line and terminal table downstream shows only
 * clean text and nothing has to remember to clean it again.
 */

/** Length caps, in characters (Unicode code points). A longer value keeps its start and ends in "...". */
export const TEXT_CAPS = {
  /** Tag keys: AWS allows 128 characters. */
  tagKey: 128,
  /** Tag values (Name, Owner, ...): AWS allows 256 characters, so a real tag is never cut. */
  tagValue: 256,
  /** Other names and short texts read from AWS, files or events (group names, ids, descriptions). */
  name: 256,
  /** A bad value quoted in an error message (printable()). */
  quoted: 80,
} as const;

/**
 * Line breaks, tabs and the byte-order mark: the removed characters that JavaScript's trim() counts as white
 * space. They become a space, so a blank value stays blank (blank owner = no owner) and `trim()` of a cleaned
 * value is the cleaned `trim()` of the raw one: "true\n" is still `true`, "false\uFEFF" still `false`.
 */
const SPACE_LIKE = /[\t\n\v\f\r\u2028\u2029\uFEFF]/g;

/**
 * Everything else that is not text to look at: controls (\p{Cc}: ESC and with it ANSI/OSC terminal sequences,
 * NEL), format characters (\p{Cf}: bidi embeddings, overrides and isolates U+202A-202E / U+2066-2069, zero-width
 * space and joiners, soft hyphen, tag characters), line and paragraph separators (\p{Zl}, \p{Zp}) and lone
 * surrogates (\p{Cs}, which the `u` flag only matches when unpaired). Each becomes one "?", never nothing: a
 * cleaned value can then never turn into another meaningful value ("cost-watchdog:ex\u200Bempt" does not
 * become the exempt key, "ali\u200Bce" does not become the user alice).
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu;

/**
 * One line of safe text from untrusted input: breaks and tabs become spaces, other control, format and bidi
 * characters and lone surrogates become "?", and the result is cut to `maxChars` characters (ending in "...").
 * Plain printable text, such as every tag value the watchdog decides on, comes back unchanged.
 */
export function cleanLine(value: string, maxChars: number = TEXT_CAPS.name): string {
  return capLength(value.replace(SPACE_LIKE, ' ').replace(UNSAFE, '?'), maxChars);
}

/** Cuts `text` to at most `maxChars` code points (never inside a surrogate pair), marking the cut with "...". */
function capLength(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const chars = Array.from(text);
  if (chars.length <= maxChars) return text;
  return `${chars.slice(0, Math.max(0, maxChars - 3)).join('')}...`;
}

/**
 * Tags as the watchdog reads them: keys and values cleaned (keys at most 128, values at most 256 characters).
 * A key that cleaning changed never replaces a key that was clean already, so a look-alike of a key the
 * watchdog decides on (`Owner\u200B`, `cost-watchdog:exempt\n`) can neither become nor overwrite it.
 */
export function cleanTags(
  tags: Iterable<{ Key?: string | undefined; Value?: string | undefined }>,
): Record<string, string> {
  const out: Record<string, string> = {};
  const changed: [string, string][] = [];
  for (const { Key, Value } of tags) {
    if (Key === undefined) continue;
    const key = cleanLine(Key, TEXT_CAPS.tagKey);
    const value = cleanLine(Value ?? '', TEXT_CAPS.tagValue);
    if (key === Key) out[key] = value;
    else changed.push([key, value]);
  }
  for (const [key, value] of changed) if (!Object.hasOwn(out, key)) out[key] = value;
  return out;
}

/** cleanTags() for tags held as a plain object (a snapshot file, a test fleet). */
export function cleanTagRecord(tags: Record<string, string>): Record<string, string> {
  return cleanTags(Object.entries(tags).map(([Key, Value]) => ({ Key, Value })));
}
