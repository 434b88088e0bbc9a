import { closeSync, constants, fchmodSync, lstatSync, openSync, writeSync } from 'node:fs';
import { InputError, printable } from '../core/errors.js';

/** Mode of every private key file: read and write for its owner only. */
export const KEY_FILE_MODE = 0o600;

// Create, never open an existing file; never follow a symbolic link at the last component (O_NOFOLLOW where
// the platform has it: not on Windows, where O_EXCL alone already refuses an existing link).
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);

/**
 * Why `path` cannot take a new private key file (`flag` is the option that named it), or undefined when
 * nothing is there. A symbolic link counts as taken even when it points nowhere.
 */
export function keyFileProblem(path: string, flag: string): InputError | undefined {
  let link: boolean;
  try {
    link = lstatSync(path).isSymbolicLink();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const what = link ? 'is a symbolic link' : 'already exists';
  return new InputError(
    flag,
    `"${printable(path)}" ${what}; a private key is only ever written to a new file, never over or through an existing one. Move or delete it, or give a path that does not exist yet`,
  );
}

/**
 * Writes a private key to a new file with mode 0600: created exclusively (O_EXCL), never through a symbolic
 * link (O_NOFOLLOW), never over an existing file. An existing path or link is an InputError naming the file
 * and the fix; nothing is written then.
 */
export function writePrivateKeyFile(path: string, key: string, flag: string): void {
  let fd: number;
  try {
    fd = openSync(path, CREATE_NEW, KEY_FILE_MODE);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ELOOP') {
      throw (
        keyFileProblem(path, flag) ??
        new InputError(flag, `"${printable(path)}" appeared while it was being written; run again`)
      );
    }
    throw err;
  }
  try {
    // The umask can only narrow the mode given to open(); set it exactly anyway.
    fchmodSync(fd, KEY_FILE_MODE);
    writeSync(fd, key.endsWith('\n') ? key : `${key}\n`);
  } finally {
    closeSync(fd);
  }
}
