/**
 * A faster drop-in for the XML parser of the AWS SDK (@aws-sdk/xml-builder, dist-es/xml-parser.js), which the
 * function bundles use instead of it (scripts/bundling.cjs, only while that file is the version this one was
 * compared with). Same algorithm, same results, same errors; it scans with indexOf and slice where the SDK's
 * parser appends one character at a time, which for a DescribeInstances page of 1,000 instances (3.5 MB of XML)
 * was a third of the sweep's CPU and much of its garbage. test/unit/xml-parser.test.ts compares the two on EC2
 * answers and on generated XML, well-formed and not.
 */

const ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
};

const ENTITY = /&(?:#x([0-9a-fA-F]{1,6})|#(\d{1,7})|([a-zA-Z][a-zA-Z0-9]{0,30}));/g;

function decodeEntities(s: string): string {
  if (s.indexOf('&') === -1) return s;
  return s.replace(ENTITY, (_, hex: string | undefined, dec: string | undefined, named: string) => {
    if (hex) return String.fromCharCode(Number.parseInt(hex, 16));
    if (dec) return String.fromCharCode(Number.parseInt(dec, 10));
    // A plain object, looked up as the SDK's parser looks it up.
    return ENTITIES[named] ?? '';
  });
}

function writeKey(obj: object): void {
  Object.defineProperty(obj, '__proto__', {
    value: undefined,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

// Character codes.
const LT = 60;
const GT = 62;
const SLASH = 47;
const EQ = 61;
const QUESTION = 63;

/** " \t\r\n" */
function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 13 || c === 10;
}

type Value = string | Record<string, unknown>;

class Parser {
  private readonly x: string;
  private readonly z: number;
  private i = 0;

  constructor(xml: string) {
    this.x = xml.replace(/\r\n?/g, '\n');
    this.z = this.x.length;
  }

  parse(): Record<string, Value> {
    const { x, z } = this;
    while (this.i < z) {
      this.trim();
      if (this.i >= z) break;
      if (x.startsWith('<?', this.i)) {
        this.readTo('?>');
        this.trim();
      } else if (x.startsWith('<!--', this.i)) {
        this.readTo('-->');
        this.trim();
      } else if (this.isDoctype()) {
        this.skipDoctype();
        this.trim();
      } else if (x.charCodeAt(this.i) === LT) {
        const value = this.parseTag();
        return { [this.tag]: value };
      } else {
        throw new Error('@aws-sdk XML parse error: unexpected content.');
      }
    }
    throw new Error('@aws-sdk XML parse error: no root element.');
  }

  /** The SDK's test, `x.toLowerCase().startsWith("<!doctype", i)`, without lowering the whole document. */
  private isDoctype(): boolean {
    const { x, i } = this;
    // Lowering the text before `i` changes its length only where it holds U+0130; then do exactly as the SDK.
    if (x.lastIndexOf('\u0130', i) !== -1) return x.toLowerCase().startsWith('<!doctype', i);
    return x.slice(i, i + 9).toLowerCase() === '<!doctype';
  }

  private readTo(stop: string): string {
    const end = this.x.indexOf(stop, this.i);
    if (end === -1) throw new Error(`@aws-sdk XML parse error: expected "${stop}" not found.`);
    const result = this.x.slice(this.i, end);
    this.i = end + stop.length;
    return result;
  }

  private trim(): void {
    const { x, z } = this;
    let i = this.i;
    while (i < z && isSpace(x.charCodeAt(i))) i++;
    this.i = i;
  }

  private readAttrValue(): string {
    const { x } = this;
    if (this.i >= this.z) {
      // No quote at all: the SDK's parser steps over the missing quote and the missing end.
      this.i += 2;
      return '';
    }
    const quote = x[this.i] as string;
    const start = ++this.i;
    let end = x.indexOf(quote, start);
    if (end === -1) end = this.z;
    this.i = end + 1;
    return decodeEntities(x.slice(start, end));
  }

  /** The tag name of the element parseTag() read last. */
  private tag = '';

  /** Reads one element; returns its value and leaves its name in `this.tag`. */
  private parseTag(): Value {
    const { x, z } = this;
    let i = ++this.i;
    // The name: up to one of " \t\r\n>/".
    while (i < z) {
      const c = x.charCodeAt(i);
      if (isSpace(c) || c === GT || c === SLASH) break;
      i++;
    }
    const tag = x.slice(this.i, i);
    this.i = i;
    let attrs: Record<string, string> | undefined;
    while (this.i < z) {
      this.trim();
      const c = x.charCodeAt(this.i);
      if (c === GT || c === SLASH) break;
      // An attribute name: up to one of "= \t\r\n>/?".
      let j = this.i;
      while (j < z) {
        const d = x.charCodeAt(j);
        if (d === EQ || isSpace(d) || d === GT || d === SLASH || d === QUESTION) break;
        j++;
      }
      const name = x.slice(this.i, j);
      this.i = j;
      this.trim();
      if (x.charCodeAt(this.i) !== EQ) break;
      ++this.i;
      this.trim();
      attrs ??= {};
      if (name === '__proto__') writeKey(attrs);
      attrs[name] = this.readAttrValue();
    }
    if (this.i >= z) throw new Error('@aws-sdk XML parse error: unexpected end of input.');
    if (x.charCodeAt(this.i) === SLASH) {
      ++this.i;
      if (this.i >= z || x.charCodeAt(this.i) !== GT)
        throw new Error('@aws-sdk XML parse error: expected > at the end of self-closing tag.');
      ++this.i;
      this.tag = tag;
      return attrs ?? '';
    }
    if (x.charCodeAt(this.i) !== GT)
      throw new Error('@aws-sdk XML parse error: expected > at the end of opening tag.');
    ++this.i;
    // Text parts: the first one alone, the others (rare) in a list; children as two lists (names, values).
    let text: string | undefined;
    let moreText: string[] | undefined;
    let childNames: string[] | undefined;
    let childValues: Value[] | undefined;
    while (this.i < z) {
      if (x.charCodeAt(this.i) === LT) {
        if (x.charCodeAt(this.i + 1) === SLASH) break;
        if (x.startsWith('<!--', this.i)) {
          this.readTo('-->');
        } else if (x.startsWith('<![CDATA[', this.i)) {
          this.i += 9;
          const t = this.readTo(']]>');
          if (text === undefined) text = t;
          else {
            moreText ??= [text];
            moreText.push(t);
          }
        } else if (x.startsWith('<?', this.i)) {
          this.readTo('?>');
        } else {
          const value = this.parseTag();
          childNames ??= [];
          childValues ??= [];
          childNames.push(this.tag);
          childValues.push(value);
        }
      } else {
        let end = x.indexOf('<', this.i);
        if (end === -1) end = z;
        const t = decodeEntities(x.slice(this.i, end));
        if (text === undefined) text = t;
        else {
          moreText ??= [text];
          moreText.push(t);
        }
        this.i = end;
      }
    }
    if (!x.startsWith('</', this.i))
      throw new Error(`@aws-sdk XML parse error: missing closing tag </${tag}>.`);
    this.i += 2;
    const closeTag = this.readTo('>').trim();
    if (closeTag !== tag)
      throw new Error(`@aws-sdk XML parse error: mismatched tags <${tag}> and </${closeTag}>.`);
    this.tag = tag;
    if (!attrs && text === undefined && !childNames) return '';
    if (!attrs && !childNames) {
      const all = moreText ? moreText.join('') : (text as string);
      if (all.trim() === '' && all.includes('\n')) return '';
      return all;
    }
    const obj: Record<string, unknown> = {};
    for (const part of moreText ?? (text === undefined ? [] : [text])) {
      if (part.trim() === '' && part.includes('\n')) continue;
      obj['#text'] = '#text' in obj ? (obj['#text'] as string) + part : part;
    }
    if (childNames && childValues) {
      for (let k = 0; k < childNames.length; k++) {
        const name = childNames[k] as string;
        const value = childValues[k];
        if (name === '__proto__') writeKey(obj);
        if (name in obj) {
          const seen = obj[name];
          if (Array.isArray(seen)) seen.push(value);
          else obj[name] = [seen, value];
        } else {
          obj[name] = value;
        }
      }
    }
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (k === '__proto__') writeKey(obj);
        obj[k] = v;
      }
    }
    return obj;
  }

  private skipDoctype(): void {
    const { x, z } = this;
    this.i += 9;
    let depth = 0;
    while (this.i < z) {
      const c = x[this.i];
      if (c === '[') ++depth;
      else if (c === ']') --depth;
      else if (c === '>' && depth === 0) {
        ++this.i;
        return;
      }
      ++this.i;
    }
    throw new Error('@aws-sdk XML parse error: unclosed DOCTYPE.');
  }
}

/** Parses an XML document into the object shape the SDK's deserialisers read (as @aws-sdk/xml-builder does). */
export function parseXML(xml: string): Record<string, Value> {
  return new Parser(xml).parse();
}
