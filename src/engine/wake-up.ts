/**
 * The sleep of a polling loop that a signal can cut short. A signal that arrives while
 * the loop is busy is remembered, so the next `sleep` returns at once and no wake-up is lost.
 */
export class WakeUp {
  private requested = false;
  private wakeSleeper: (() => void) | null = null;

  /** Asks the loop to go round again now. */
  signal(): void {
    this.requested = true;
    this.wakeSleeper?.();
  }

  /** Called at the top of each round: the round about to run answers the signals so far. */
  beginRound(): void {
    this.requested = false;
  }

  /** True when a signal arrived since the round began. */
  get pending(): boolean {
    return this.requested;
  }

  /** Sleeps up to `ms`, or until `signal()`. */
  sleep(ms: number): Promise<void> {
    if (this.requested) return Promise.resolve();
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        if (this.wakeSleeper === finish) this.wakeSleeper = null;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.wakeSleeper = finish;
    });
  }
}

/**
 * How long a polling loop that last looked for due work at `lookedAt` may sleep: until the
 * earliest item due after that moment, at most `capMs`. Asking from `lookedAt` rather than
 * from now means an item that fell due while the loop was busy wakes it at once, instead
 * of waiting a whole `capMs` for the next poll.
 */
export async function sleepUntilNextDue(
  nextDueAfter: (at: number) => Promise<number | null>,
  lookedAt: number,
  now: () => number,
  capMs: number,
): Promise<number> {
  try {
    const next = await nextDueAfter(lookedAt);
    return next === null ? capMs : Math.min(capMs, Math.max(1, next - now()));
  } catch {
    return capMs;
  }
}
