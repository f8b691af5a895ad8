// File-system errors in words: "no such file or directory", not ENOENT.

const WORDS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'the name is too long',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EIO: 'input/output error',
  ENXIO: 'no such device',
  EINVAL: 'not a readable file',
}

/** Why a file could not be read, in words. */
export function describeFsError (err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (code !== undefined && code in WORDS) return WORDS[code] ?? code
  if (err instanceof Error) return err.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '')
  return String(err)
}
