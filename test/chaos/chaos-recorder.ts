import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Prng } from './prng.js';

/** One request an http step sent, as the recorder saw it. */
export interface StepRequest {
  seq: number;
  route: string;
  run: string;
  step: string;
  iter: string;
  idempotencyKey: string | null;
  arrivedAt: number;
  /** When the answer was written or the client went away; null while in flight. */
  endedAt: number | null;
  status: number;
}

/** Two requests of one run in flight at once. */
export interface Overlap {
  run: string;
  first: StepRequest;
  second: StepRequest;
}

function hash(text: string): number {
  let h = 0x811c9dc5;
  for (const char of text) h = Math.imul(h ^ char.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

/**
 * The loopback HTTP server every http step of the generated workflows calls. It logs each
 * request (run, step, iteration, Idempotency-Key, arrival and end), notices two requests of
 * one run in flight at once, answers some with a 503 and delays some: both decided from the
 * seed and the request's identity (key and how many times it came), so a replay answers alike.
 */
export class ChaosRecorder {
  readonly requests: StepRequest[] = [];
  readonly overlaps: Overlap[] = [];
  private readonly inFlight = new Map<string, Set<StepRequest>>();
  private readonly seen = new Map<string, number>();
  private port = 0;
  private readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let body: { run?: unknown; step?: unknown; iter?: unknown } = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
      } catch {
        // not one of ours
      }
      const keyHeader = req.headers['idempotency-key'];
      const request: StepRequest = {
        seq: this.requests.length + 1,
        route: (req.url ?? '/').split('?')[0]!,
        run: String(body.run ?? ''),
        step: String(body.step ?? ''),
        iter: String(body.iter ?? '0'),
        idempotencyKey: typeof keyHeader === 'string' ? keyHeader : null,
        arrivedAt: Date.now(),
        endedAt: null,
        status: 200,
      };
      this.requests.push(request);
      const running = this.inFlight.get(request.run) ?? new Set<StepRequest>();
      for (const other of running) this.overlaps.push({ run: request.run, first: other, second: request });
      running.add(request);
      this.inFlight.set(request.run, running);
      const identity = `${request.run}|${request.step}|${request.iter}`;
      const nth = (this.seen.get(identity) ?? 0) + 1;
      this.seen.set(identity, nth);
      const random = new Prng(hash(`${this.seed}|${identity}|${nth}`));
      const fail = random.chance(this.failRate);
      const delayMs = random.chance(0.4) ? random.int(5, this.maxDelayMs) : 0;
      request.status = fail ? 503 : 200;
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        request.endedAt = Date.now();
        running.delete(request);
      };
      res.on('close', end);
      res.on('finish', end);
      const send = () => {
        if (ended) return;
        res.writeHead(request.status, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify(
            fail
              ? { error: 'injected failure' }
              : { ok: true, run: request.run, step: request.step, iter: request.iter, seq: request.seq },
          ),
        );
        if (request.route === '/gate' && !fail) this.onGate?.(request);
      };
      if (delayMs === 0) send();
      else setTimeout(send, delayMs).unref();
    });
  });

  /** Called when a `/gate` request is answered 200: the run is about to start its wait. */
  onGate: ((request: StepRequest) => void) | null = null;

  private constructor(
    private readonly seed: number,
    private readonly failRate: number,
    private readonly maxDelayMs: number,
  ) {}

  static async start(seed: number, options: { failRate?: number; maxDelayMs?: number } = {}) {
    const recorder = new ChaosRecorder(seed, options.failRate ?? 0.1, options.maxDelayMs ?? 250);
    await new Promise<void>((resolve) => recorder.server.listen(0, '127.0.0.1', resolve));
    recorder.port = (recorder.server.address() as AddressInfo).port;
    return recorder;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
