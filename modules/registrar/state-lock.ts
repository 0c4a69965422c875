import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';

/** Lock files this process holds: a second store on one file in the same process is refused too. */
const held = new Set<string>();

export class StateLockedError extends Error {
  readonly code = 'SY_STATE_LOCKED';
}

/** Whether a process with this id runs (EPERM: it runs as another user). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes `<file>.lock` for this process: two proxies appending to one registrations file would
 * each restore the other's writes half and overwrite them at compaction. A lock left by a
 * process that is gone (kill -9) is taken over; so is one naming this process's own id that this
 * process did not take (a container restarted with the same pid). Returns the release.
 */
export function lockState(file: string): () => void {
  const lock = `${file}.lock`;
  if (held.has(lock)) throw new StateLockedError(`${file} is in use by another store of this process`);
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(lock, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number.parseInt(readLock(lock), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && running(pid)) {
        throw new StateLockedError(`${file} is in use by process ${pid} (remove ${lock} if that process is not a switchyard)`);
      }
      try {
        unlinkSync(lock);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      continue;
    }
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    held.add(lock);
    return () => {
      held.delete(lock);
      try {
        unlinkSync(lock);
      } catch {
        // gone already: nothing to release
      }
    };
  }
  throw new StateLockedError(`${file}: its lock ${lock} keeps coming back`);
}

function readLock(lock: string): string {
  try {
    return readFileSync(lock, 'utf8');
  } catch {
    return '';
  }
}
