import readline from 'node:readline';
import type { PhoneIo } from './io.ts';
import { parseCommand, type Command } from './commands.ts';
import { Reporter, type ReportOptions } from './report.ts';
import type { PhoneSession } from './session.ts';

export interface InteractiveOptions extends ReportOptions {
  /** Register as this user at start. */
  readonly user: string | null;
  /** Call this user once registered, and exit when that call ends. */
  readonly call: string | null;
  /** The phone answers or rejects calls by itself: it keeps running when its input ends. */
  readonly passive: boolean;
}

const HELP = 'commands: register <user> | call <user> | answer | reject [reason] | hangup | stats | quit';
/** With --call, how long the phone waits for its REGISTER to be answered. */
const REGISTER_DEADLINE_MS = 5000;

/**
 * The phone at a prompt: reads commands from stdin (with a prompt when it is a terminal) and
 * prints the phone's events above it. Resolves with the exit status: 0 after `quit`, a signal or
 * the end of input; with --call, when that call ends (0 if it had media, else 1).
 */
export function runInteractive(session: PhoneSession, io: PhoneIo, o: InteractiveOptions): Promise<number> {
  const tty = io.stdin.isTTY === true && io.stdout.isTTY === true;
  const rl = readline.createInterface({ input: io.stdin, output: tty ? io.stdout : undefined, terminal: tty, prompt: 'phone> ' });
  const write = (line: string): void => {
    if (!tty) {
      io.stdout.write(`${line}\n`);
      return;
    }
    // Print above the prompt and redraw it with what was typed so far.
    readline.clearLine(io.stdout, 0);
    readline.cursorTo(io.stdout, 0);
    io.stdout.write(`${line}\n`);
    rl.prompt(true);
  };
  const reporter = new Reporter(session, write, o);

  return new Promise<number>((resolve) => {
    let finished = false;
    let inputOpen = true;
    let registerDeadline: NodeJS.Timeout | null = null;
    const finish = (status: number): void => {
      if (finished) return;
      finished = true;
      if (registerDeadline !== null) clearTimeout(registerDeadline);
      if (session.callPhase !== null) session.hangup('quit');
      stopEvents();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      reporter.close();
      if (inputOpen) rl.close();
      // A paused pipe still holds the event loop open: the phone is done with its input.
      io.stdin.destroy?.();
      resolve(status);
    };
    const onSignal = (): void => finish(0);

    const stopEvents = session.onEvent((e) => {
      if (o.call === null) return;
      if (e.type === 'registered' && e.user === o.user && session.callPhase === null) {
        if (registerDeadline !== null) clearTimeout(registerDeadline);
        registerDeadline = null;
        const refused = session.call(o.call);
        if (refused !== null) {
          reporter.notice(`cannot call ${o.call}: ${refused}`);
          finish(1);
        }
      } else if (e.type === 'error' && e.during === 'register') {
        finish(1);
      } else if (e.type === 'ended' && e.summary.peer === o.call && e.summary.role === 'caller') {
        finish(e.summary.outcome === 'completed' ? 0 : 1);
      }
    });

    const execute = (c: Command): void => {
      let refused: string | null = null;
      switch (c.op) {
        case 'register': refused = session.register(c.user); break;
        case 'call': refused = session.call(c.user); break;
        case 'answer': refused = session.answer(); break;
        case 'reject': refused = session.reject(c.reason ?? undefined); break;
        case 'hangup': refused = session.hangup(); break;
        case 'stats': reporter.stats(); break;
        case 'help': reporter.notice(HELP); break;
        case 'quit': return finish(0);
        default: refused = `'${c.op}' is for scripts (--script)`;
      }
      if (refused !== null) reporter.notice(refused);
    };

    rl.on('line', (line) => {
      if (finished) return;
      const parsed = parseCommand(line);
      if (!parsed.ok) reporter.notice(`${parsed.message}; ${HELP}`);
      else if (parsed.command !== null) execute(parsed.command);
      if (tty && !finished) rl.prompt();
    });
    rl.on('SIGINT', onSignal);
    rl.on('close', () => {
      inputOpen = false;
      // Input ended: a phone with nothing left to do quits; one that answers calls, or has a
      // call to finish, goes on until a signal.
      if (!o.passive && o.call === null) finish(0);
    });
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    reporter.notice(`phone on UDP port ${session.localPort}; ${HELP}`);
    if (o.user !== null) {
      const refused = session.register(o.user);
      if (refused !== null) reporter.notice(refused);
      if (o.call !== null) {
        registerDeadline = setTimeout(() => {
          reporter.notice(`no answer to REGISTER ${o.user} within ${REGISTER_DEADLINE_MS / 1000} s`);
          finish(1);
        }, REGISTER_DEADLINE_MS);
      }
    }
    if (tty) rl.prompt();
  });
}
