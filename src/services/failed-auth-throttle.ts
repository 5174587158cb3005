import { isIP } from 'node:net';
import type { Clock } from '../domain/clock.js';
import { StepwiseError } from '../domain/errors.js';
import { rateWindow } from '../domain/plan.js';
import type { Store } from '../store/store.js';

const WINDOW_MS = 60_000;
/** Addresses remembered as over the limit; past this, the one blocked longest ago is forgotten first. */
const MAX_BLOCKED_ADDRESSES = 10_000;

/**
 * Who is guessing: an IPv4 address (an IPv4-mapped IPv6 one as its IPv4 address), or an IPv6
 * address's /64, since one host commonly holds a whole /64 and would otherwise get a fresh
 * budget from each of its addresses.
 * @example clientGroup('2001:db8:1:2:3:4:5:6') // '2001:db8:1:2::/64'
 */
export function clientGroup(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIP(address) !== 6) return address;
  const [head = '', tail] = address.split('::');
  const front = head === '' ? [] : head.split(':');
  const back = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? front
      : [...front, ...Array<string>(8 - front.length - back.length).fill('0'), ...back];
  return `${groups
    .slice(0, 4)
    .map((group) => parseInt(group, 16).toString(16))
    .join(':')}::/64`;
}

/**
 * Throttles API key guessing per client: after `limit` failed authentications (an unknown or
 * revoked key) from one client in a minute, every request it makes with a key is answered 429
 * until the minute ends, without the key being looked at, so a guess learns nothing. Requests
 * without a key are not guesses and are not counted; clients elsewhere are not affected.
 *
 * Failures are counted in the store's rate-limit counters (fixed one-minute windows, as the key
 * rate limits), so on PostgreSQL they add up across processes; a process refuses a client from
 * the first failure it sees that is over the limit, wherever the others were counted.
 */
export class FailedAuthThrottle {
  /** Client → when its block ends. */
  private readonly blockedUntil = new Map<string, number>();
  private lastPrune = 0;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    /** Failures a client may make per minute. */
    private readonly limit: number,
  ) {}

  /** @throws 429 `AUTH_THROTTLED` with Retry-After while the client at `address` is blocked. */
  refuseIfBlocked(address: string): void {
    const client = clientGroup(address);
    const until = this.blockedUntil.get(client);
    if (until === undefined) return;
    const now = this.clock.now();
    if (now >= until) {
      this.blockedUntil.delete(client);
      return;
    }
    throw this.refusal(Math.max(1, Math.ceil((until - now) / 1000)));
  }

  /**
   * Counts a failed authentication from `address`; the `limit`-th of a window blocks the client
   * for the rest of it. @throws 429 `AUTH_THROTTLED` when this failure was already over the limit
   * (the others were counted by other processes).
   */
  async recordFailure(address: string): Promise<void> {
    const client = clientGroup(address);
    const now = this.clock.now();
    const window = rateWindow(now);
    const count = await this.store.limits.hitRateLimit(`auth-failures:${client}`, window.start);
    this.pruneNowAndThen(now);
    if (count < this.limit) return;
    this.blockedUntil.delete(client);
    if (this.blockedUntil.size >= MAX_BLOCKED_ADDRESSES) {
      this.blockedUntil.delete(this.blockedUntil.keys().next().value as string);
    }
    this.blockedUntil.set(client, window.start + WINDOW_MS);
    if (count > this.limit) throw this.refusal(window.resetSeconds);
  }

  private refusal(retryAfterSeconds: number): StepwiseError {
    return new StepwiseError(
      'AUTH_THROTTLED',
      429,
      `more than ${this.limit} requests with an invalid API key came from this address this minute; retry after ${retryAfterSeconds} s`,
      { retryAfterSeconds },
    );
  }

  private pruneNowAndThen(now: number): void {
    if (now - this.lastPrune < WINDOW_MS) return;
    this.lastPrune = now;
    // Best effort: an old counter left behind costs a row, never a wrong answer.
    this.store.limits.pruneRateLimits(now - 2 * WINDOW_MS).catch(() => undefined);
  }
}
