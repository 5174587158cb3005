import { EventEmitter } from 'node:events';
import type Database from 'better-sqlite3';
import type { StoreSignals } from '../store.js';

/** A wake-up a write asks for; delivered to listeners once its transaction has committed. */
export type StoreSignal =
  | { kind: 'runsAvailable' }
  | { kind: 'cancelRequested'; runId: string }
  | { kind: 'keysRevoked' }
  | { kind: 'deliveriesAvailable' }
  | { kind: 'generationsAvailable' };

/**
 * The single writer connection of a `SqliteStore`: cached prepared statements, write
 * transactions taken with `BEGIN IMMEDIATE`, and the in-process signal emitter.
 */
export class SqliteConnection {
  private readonly statements = new Map<string, Database.Statement>();
  private readonly emitter = new EventEmitter();
  private readonly transaction: Database.Transaction<(work: () => unknown) => unknown>;
  private readonly pendingWrites: {
    work: (signals: StoreSignal[]) => unknown;
    resolve: (value: unknown) => void;
    reject: (error: unknown) => void;
  }[] = [];

  constructor(readonly db: Database.Database) {
    // Every worker loop in the process listens; the default cap of 10 would only warn.
    this.emitter.setMaxListeners(0);
    this.transaction = db.transaction((work: () => unknown) => work());
  }

  /** The prepared statement for `sql`, prepared once per connection. */
  statement(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /**
   * Runs `work` in one `BEGIN IMMEDIATE` transaction. Signals it pushes are emitted only
   * after the commit, and dropped when it throws (the transaction rolled back).
   */
  write<T>(work: (signals: StoreSignal[]) => T): T {
    const signals: StoreSignal[] = [];
    const result = this.transaction.immediate(() => work(signals)) as T;
    this.emit(signals);
    return result;
  }

  /**
   * Like `write`, but joins the other writes asked for in the same event-loop turn in one
   * transaction (one fsync for all of them). Each keeps its own savepoint, so one that
   * throws rolls back alone and only its caller sees the error.
   */
  writeSoon<T>(work: (signals: StoreSignal[]) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pendingWrites.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (this.pendingWrites.length === 1) setImmediate(() => this.flushPendingWrites());
    });
  }

  private flushPendingWrites(): void {
    const batch = this.pendingWrites.splice(0);
    const settled: (() => void)[] = [];
    const signals: StoreSignal[] = [];
    try {
      this.transaction.immediate(() => {
        for (const item of batch) {
          const own: StoreSignal[] = [];
          try {
            // A nested better-sqlite3 transaction is a savepoint.
            const value = this.transaction(() => item.work(own));
            signals.push(...own);
            settled.push(() => item.resolve(value));
          } catch (error) {
            settled.push(() => item.reject(error));
          }
        }
      });
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    this.emit(signals);
    for (const settle of settled) settle();
  }

  /** Subscribes to signals; the returned function unsubscribes. */
  listen(signals: StoreSignals): () => void {
    const onRunsAvailable = (): void => signals.runsAvailable();
    const onCancelRequested = (runId: string): void => signals.cancelRequested(runId);
    const onKeysRevoked = (): void => signals.keysRevoked?.();
    const onDeliveriesAvailable = (): void => signals.deliveriesAvailable?.();
    const onGenerationsAvailable = (): void => signals.generationsAvailable?.();
    this.emitter.on('runsAvailable', onRunsAvailable);
    this.emitter.on('cancelRequested', onCancelRequested);
    this.emitter.on('keysRevoked', onKeysRevoked);
    this.emitter.on('deliveriesAvailable', onDeliveriesAvailable);
    this.emitter.on('generationsAvailable', onGenerationsAvailable);
    return () => {
      this.emitter.off('runsAvailable', onRunsAvailable);
      this.emitter.off('cancelRequested', onCancelRequested);
      this.emitter.off('keysRevoked', onKeysRevoked);
      this.emitter.off('deliveriesAvailable', onDeliveriesAvailable);
      this.emitter.off('generationsAvailable', onGenerationsAvailable);
    };
  }

  close(): void {
    this.emitter.removeAllListeners();
    this.statements.clear();
    if (this.db.open) this.db.close();
  }

  private emit(signals: StoreSignal[]): void {
    if (signals.length === 0) return;
    const runsAvailable = signals.some((s) => s.kind === 'runsAvailable');
    const keysRevoked = signals.some((s) => s.kind === 'keysRevoked');
    const deliveriesAvailable = signals.some((s) => s.kind === 'deliveriesAvailable');
    const generationsAvailable = signals.some((s) => s.kind === 'generationsAvailable');
    const cancelled = [...new Set(signals.flatMap((s) => (s.kind === 'cancelRequested' ? [s.runId] : [])))];
    // Delivered on a later turn, as NOTIFY is on PostgreSQL: a listener never runs inside
    // the writer's call, so it cannot make a committed write look failed.
    setImmediate(() => {
      if (runsAvailable) this.emitter.emit('runsAvailable');
      for (const runId of cancelled) this.emitter.emit('cancelRequested', runId);
      if (keysRevoked) this.emitter.emit('keysRevoked');
      if (deliveriesAvailable) this.emitter.emit('deliveriesAvailable');
      if (generationsAvailable) this.emitter.emit('generationsAvailable');
    });
  }
}
