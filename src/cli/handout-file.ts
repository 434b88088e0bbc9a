import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  fchmodSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

/** Mode of every handout file: read and write for its owner only (names, emails, account details). */
export const HANDOUT_FILE_MODE = 0o600;

const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);

/** The handout file of `user` in `dir`. */
export function handoutPath(dir: string, user: string): string {
  return join(dir, `${user}.txt`);
}

/**
 * Writes a student handout to `dir/<user>.txt` (the folder is created with mode 0700 when missing). The text goes
 * into a new file created exclusively with mode 0600, never through a symbolic link, which then replaces the old
 * handout in one rename (a link at that name is replaced, not followed). `unchanged` when the same text is there.
 */
export function writeHandoutFile(dir: string, user: string, text: string): 'written' | 'unchanged' {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = handoutPath(dir, user);
  const content = text.endsWith('\n') ? text : `${text}\n`;
  let existing: ReturnType<typeof lstatSync> | undefined;
  try {
    existing = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (
    existing?.isFile() &&
    (Number(existing.mode) & 0o777) === HANDOUT_FILE_MODE &&
    readFileSync(path, 'utf8') === content
  )
    return 'unchanged';
  const temporary = join(dir, `.${user}.txt.${randomBytes(6).toString('hex')}`);
  const fd = openSync(temporary, CREATE_NEW, HANDOUT_FILE_MODE);
  try {
    fchmodSync(fd, HANDOUT_FILE_MODE);
    writeSync(fd, content);
  } catch (err) {
    closeSync(fd);
    rmSync(temporary, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(temporary, path);
  return 'written';
}
