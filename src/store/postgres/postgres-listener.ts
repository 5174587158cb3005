import pg from 'pg';
import type { StoreSignals } from '../store.js';
import { DELIVERIES_CHANNEL } from './postgres-delivery-queries.js';
import { GENERATIONS_CHANNEL } from './postgres-generation-queries.js';
import { RUNS_CHANNEL } from './postgres-lease-queries.js';
import { CANCEL_CHANNEL } from './postgres-run-queries.js';
import { KEYS_CHANNEL } from './postgres-tenant-queries.js';

const MIN_RECONNECT_MS = 100;
const MAX_RECONNECT_MS = 5_000;

/**
 * Turns NOTIFY on `stepwise_runs` / `stepwise_cancel` / `stepwise_keys` / `stepwise_deliveries`
 * / `stepwise_generations` into `StoreSignals` calls. Holds one dedicated connection (LISTEN
 * is per session, so it cannot come from the pool) while anyone subscribes, and reconnects
 * with backoff when that connection drops. After a reconnect every subscriber gets `runsAvailable`, `keysRevoked`,
 * `deliveriesAvailable` and `generationsAvailable`, since notifications sent meanwhile are lost.
 */
export class PostgresListener {
  private readonly subscribers = new Set<StoreSignals>();
  private client: pg.Client | null = null;
  private connecting: Promise<void> | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectDelay = MIN_RECONNECT_MS;
  private closed = false;

  constructor(private readonly connectionString: string) {}

  /** Adds a subscriber once the connection listens; the returned function removes it. */
  async subscribe(signals: StoreSignals): Promise<() => Promise<void>> {
    if (this.closed) throw new Error('the store is closed');
    this.subscribers.add(signals);
    try {
      await this.ensureConnected();
    } catch (error) {
      this.subscribers.delete(signals);
      throw error;
    }
    return async () => {
      this.subscribers.delete(signals);
      if (this.subscribers.size === 0) await this.disconnect();
    };
  }

  /** Ends the connection for good. */
  async close(): Promise<void> {
    this.closed = true;
    this.subscribers.clear();
    await this.disconnect();
  }

  private ensureConnected(): Promise<void> {
    if (this.client) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString, keepAlive: true });
    // Errors arrive here and as 'end'; without a listener they would crash the process.
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', (message) => this.dispatch(message));
    try {
      await client.connect();
      await client.query(
        `LISTEN ${RUNS_CHANNEL}; LISTEN ${CANCEL_CHANNEL}; LISTEN ${KEYS_CHANNEL}; LISTEN ${DELIVERIES_CHANNEL}; ` +
          `LISTEN ${GENERATIONS_CHANNEL}`,
      );
    } catch (error) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.closed || this.subscribers.size === 0) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.reconnectDelay = MIN_RECONNECT_MS;
  }

  private dispatch(message: pg.Notification): void {
    for (const signals of this.subscribers) {
      if (message.channel === RUNS_CHANNEL) signals.runsAvailable();
      else if (message.channel === CANCEL_CHANNEL && message.payload)
        signals.cancelRequested(message.payload);
      else if (message.channel === KEYS_CHANNEL) signals.keysRevoked?.();
      else if (message.channel === DELIVERIES_CHANNEL) signals.deliveriesAvailable?.();
      else if (message.channel === GENERATIONS_CHANNEL) signals.generationsAvailable?.();
    }
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = null;
    client.removeAllListeners('end');
    client.end().catch(() => undefined);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.subscribers.size === 0 || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.ensureConnected().then(
        () => {
          for (const signals of this.subscribers) {
            signals.runsAvailable();
            signals.keysRevoked?.();
            signals.deliveriesAvailable?.();
            signals.generationsAvailable?.();
          }
        },
        () => {
          this.reconnectDelay = Math.min(this.reconnectDelay * 2, MAX_RECONNECT_MS);
          this.scheduleReconnect();
        },
      );
    }, this.reconnectDelay);
    // The engine's polling keeps working without us; a pending retry must not keep the process alive.
    this.reconnectTimer.unref();
  }

  private async disconnect(): Promise<void> {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    await this.connecting?.catch(() => undefined);
    const client = this.client;
    this.client = null;
    if (!client) return;
    client.removeAllListeners('end');
    await client.end().catch(() => undefined);
  }
}
