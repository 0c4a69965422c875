// The watchdog's thread: watches the main thread's heartbeat; see watchdog.ts.
import { writeSync } from 'node:fs';
import { Session } from 'node:inspector';
import { workerData } from 'node:worker_threads';

interface WatchdogData {
  readonly beat: Int32Array;
  readonly reportMs: number;
  readonly killMs: number;
  readonly scriptDir: string;
}

const { beat, reportMs, killMs, scriptDir } = workerData as WatchdogData;

/** A JSON log line straight to stdout (the main thread's logger cannot run while it is blocked); lost if stdout cannot take it. */
function log(level: number, fields: Record<string, unknown>, msg: string): void {
  try {
    writeSync(1, `${JSON.stringify({ level, time: Date.now(), pid: process.pid, ...fields, msg })}\n`);
  } catch {
    // a full or closed pipe: the line is dropped, the watchdog goes on
  }
}

/** Pauses the main thread for an instant to read where it is: the frames, the first in the script's own files first. */
function locate(blockedMs: number): void {
  const session = new Session();
  try {
    session.connectToMainThread();
  } catch {
    return;
  }
  const urls = new Map<string, string>();
  session.on('Debugger.scriptParsed', (m) => urls.set(m.params.scriptId, m.params.url));
  session.on('Debugger.paused', (m) => {
    const places = m.params.callFrames.slice(0, 12).map((f) => {
      const url = urls.get(f.location.scriptId) ?? f.url;
      return { where: `${url.startsWith('file://') ? decodeURIComponent(url.slice(7)) : url}:${f.location.lineNumber + 1}`, fn: f.functionName };
    });
    const at = (places.find((p) => p.where.startsWith(scriptDir)) ?? places[0])?.where ?? 'unknown';
    const stack = places.map((p) => (p.fn !== '' ? `${p.where} (${p.fn})` : p.where));
    log(50, { blockedMs, at, stack }, 'event loop blocked: no message is served until it returns');
    session.post('Debugger.resume', () => session.post('Debugger.disable', () => session.disconnect()));
  });
  session.post('Debugger.enable', () => session.post('Debugger.pause'));
}

let last = Atomics.load(beat, 0);
let since = Date.now();
let reported = false;
setInterval(() => {
  const now = Atomics.load(beat, 0);
  if (now !== last) {
    if (reported) log(40, { blockedMs: Date.now() - since }, 'event loop free again');
    last = now;
    since = Date.now();
    reported = false;
    return;
  }
  const blocked = Date.now() - since;
  if (!reported && blocked >= reportMs) {
    reported = true;
    locate(blocked);
  }
  if (blocked >= killMs) {
    // A loop that never returns: only a new process serves again (a supervisor restarts it).
    log(60, { blockedMs: blocked }, 'event loop blocked for good: exiting so the proxy can be restarted');
    process.kill(process.pid, 'SIGKILL');
  }
}, Math.max(50, Math.min(500, reportMs / 4)));
