/**
 * Stops an execution once local monotonic time passes the last confirmed expiry of its
 * lease. A confirmation is the moment a claim or renewal was asked for plus the lease: the
 * store set the expiry no earlier, whichever clock it went by. So a worker that was paused,
 * starved or cut off from the database stops before another worker can hold the run,
 * without waiting for a write to fail.
 */
export class LeaseWatch {
  private timer: NodeJS.Timeout | null = null;

  /**
   * @param confirmedUntil `performance.now()` time the lease is known to hold until.
   * @param onLapse called once when that time passes without a later confirmation.
   */
  constructor(
    private confirmedUntil: number,
    private readonly onLapse: () => void,
  ) {}

  /** Whether the last confirmed expiry has passed. */
  get lapsed(): boolean {
    return performance.now() >= this.confirmedUntil;
  }

  start(): void {
    this.arm();
  }

  /** A renewal landed: the lease holds at least until `until` (`performance.now()` time). */
  confirm(until: number): void {
    if (until <= this.confirmedUntil) return;
    this.confirmedUntil = until;
    if (this.timer) this.arm();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        if (this.lapsed) this.onLapse();
        else this.arm();
      },
      Math.max(0, this.confirmedUntil - performance.now()),
    );
    this.timer.unref();
  }
}
