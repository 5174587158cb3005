import type { Clock } from '../domain/clock.js';

/** How often the offset to the database's clock is measured again (clocks drift, NTP steps). */
const RESYNC_MS = 10_000;

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

  /** Measures the offset again; a failed read keeps the last one. */
  async sync(): Promise<void> {
    const sentAt = Date.now();
    const databaseNow = await this.readDatabaseClock();
    const receivedAt = Date.now();
    this.offset = Math.round(databaseNow - (sentAt + receivedAt) / 2);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
