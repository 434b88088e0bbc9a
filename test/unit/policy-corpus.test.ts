/**
 * A corpus of broken policy files (test/fixtures/policies/bad/*.yml). The first line of each file says what
 * the error message must contain (`# expect: <regular expression>`), so adding a file adds a case.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PolicyError } from '../../src/core/errors.js';
import { DEFAULT_POLICY, parsePolicyText } from '../../src/core/policy.js';

const BAD = join(import.meta.dirname, '..', 'fixtures', 'policies', 'bad');

const corpus = readdirSync(BAD)
  .filter((f) => f.endsWith('.yml'))
  .sort()
  .map((file) => {
    const text = readFileSync(join(BAD, file), 'utf8');
    const expectation = /^# expect: (.+)$/m.exec(text.split('\n')[0] ?? '')?.[1];
    if (!expectation) throw new Error(`${file}: the first line must be "# expect: <regular expression>"`);
    return { file, text, expected: new RegExp(expectation) };
  });

describe('the broken-policy corpus', () => {
  it('has a case for every kind of breakage the issue lists', () => {
    const names = corpus.map((c) => c.file).join(' ');

    for (const kind of ['wrong-type', 'unknown-key', 'yaml-', 'huge-', 'duplicate-key', 'alias-bomb']) {
      expect(names).toContain(kind);
    }
  });

  it.each(corpus)('rejects $file with a PolicyError naming the field or line', ({ file, text, expected }) => {
    let thrown: unknown;
    try {
      parsePolicyText(text, file);
    } catch (err) {
      thrown = err;
    }

    expect(thrown).toBeInstanceOf(PolicyError);
    expect((thrown as PolicyError).message).toMatch(expected);
    expect((thrown as PolicyError).message).toContain(file);
  });
});

describe('a policy file without settings', () => {
  it.each([
    ['an empty file', ''],
    ['only comments', '# nothing set yet\n'],
    ['only a document marker', '---\n'],
    ['an explicit null', '~\n'],
  ])('means the defaults: %s', (_what, text) => {
    expect(parsePolicyText(text, 'watchdog.yml')).toEqual(DEFAULT_POLICY);
  });
});
