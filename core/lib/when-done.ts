/**
 * Runs `next` once `step` is done: at once when it finished synchronously (returned no
 * promise), else when its promise settles. Keeps a path synchronous while every step on it is,
 * which is most messages, with no promise or microtask for them.
 */
export function whenDone(step: unknown, next: () => void | Promise<void>): void | Promise<void> {
  return step instanceof Promise ? step.then(next) : next();
}
