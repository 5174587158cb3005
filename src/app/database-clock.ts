import type { Clock } from '../domain/clock.js';

/** How often the offset to the database's clock is measured again (clocks drift, NTP steps). */
const RESYNC_MS = 10_000;
/** Round trips per measurement; the quickest one decides. */
const SAMPLES = 3;

/**
 * The database server's clock, read locally: the process clock plus an offset measured
 * against the server (the midpoint of a round trip, so off by at most half of one). Every
 * instant a process writes for others to act on (a delay's wake-up, a step's timing, an
 * event's time) is then on the clock the coordinating statements compare with, however
 * far this machine's clock is off.
 */
export class DatabaseClock implements Clock {
  private offset = 0;
  private readonly timer: NodeJS.Timeout;

  private constructor(private readonly readDatabaseClock: () => Promise<number>) {
    this.timer = setInterval(() => void this.sync().catch(() => undefined), RESYNC_MS);
    this.timer.unref();
  }

  /** Measures the offset once before answering, so the first instant is already right. */
  static async start(readDatabaseClock: () => Promise<number>): Promise<DatabaseClock> {
    const clock = new DatabaseClock(readDatabaseClock);
    await clock.sync();
    return clock;
  }

  now(): number {
    return Date.now() + this.offset;
  }

  /**
   * Measures the offset again from a few round trips, keeping the quickest: a reply that
   * waited in a queue on one leg only would skew the midpoint by up to that wait. A failed
   * read keeps the last offset.
   */
  async sync(): Promise<void> {
    let best: { roundTrip: number; offset: number } | null = null;
    for (let sample = 0; sample < SAMPLES; sample += 1) {
      const sentAt = performance.now();
      const localAtSend = Date.now();
      const databaseNow = await this.readDatabaseClock();
      const roundTrip = performance.now() - sentAt;
      const offset = databaseNow - (localAtSend + roundTrip / 2);
      if (best === null || roundTrip < best.roundTrip) best = { roundTrip, offset };
    }
    if (best) this.offset = Math.round(best.offset);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
