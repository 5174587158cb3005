import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

/** One open MCP session: its SDK objects and who opened it. */
export interface McpSession {
  transport: StreamableHTTPServerTransport;
  server: McpServer;
  orgId: string;
  keyId: string;
  lastSeen: number;
}

/** A place held for a session while its `initialize` is answered. */
export interface SessionReservation {
  /** Turns the reservation into the open session `id`. */
  open(id: string, session: McpSession): void;
  /** Gives the place back, unless it became a session. */
  release(): void;
}

/** Why a new session is refused, with what the caller is told. */
export interface SessionRefusal {
  status: 429 | 503;
  message: string;
  retryAfterSeconds: number;
}

/**
 * The MCP sessions this process holds, counted per org, so that an org at its plan's cap
 * is refused alone while other orgs keep opening sessions. An `initialize` being answered
 * holds a reservation until its session exists, so concurrent ones cannot overshoot a cap.
 */
export class McpSessionRegistry {
  private readonly sessions = new Map<string, McpSession>();
  /** Sessions plus reservations per org. */
  private readonly heldByOrg = new Map<string, number>();
  private heldInAll = 0;

  constructor(
    private readonly limits: {
      /** A session unused this long is listed by `idleIds`, to close. */
      idleMs: number;
      /** The bound on every org's sessions together, guarding the process's memory. */
      processCap: number;
      now: () => number;
    },
  ) {}

  ids(): string[] {
    return [...this.sessions.keys()];
  }

  /** The session `id` when `keyId` opened it (another key's session is as unknown as a closed one), marked used. */
  use(id: string, keyId: string): McpSession | undefined {
    const session = this.sessions.get(id);
    if (!session || session.keyId !== keyId) return undefined;
    session.lastSeen = this.limits.now();
    return session;
  }

  /** The org's sessions opened by keys in `keyIds`. */
  idsOfKeys(orgId: string, keyIds: ReadonlySet<string>): string[] {
    return [...this.sessions]
      .filter(([, session]) => session.orgId === orgId && keyIds.has(session.keyId))
      .map(([id]) => id);
  }

  /** The org's sessions and reservations. */
  private heldBy(orgId: string): number {
    return this.heldByOrg.get(orgId) ?? 0;
  }

  /**
   * Reserves a session for `orgId` when it is under `orgCap` (null: no cap of its own).
   * @returns a release for the reservation, or why the org may not open one now.
   */
  reserve(orgId: string, orgCap: number | null): SessionReservation | SessionRefusal {
    if (this.heldInAll >= this.limits.processCap) {
      return {
        status: 503,
        message: `This server holds the most MCP sessions it allows (${this.limits.processCap}, all orgs together); retry later or use stateless requests`,
        retryAfterSeconds: this.secondsUntilExpiry(undefined),
      };
    }
    const held = this.heldBy(orgId);
    if (orgCap !== null && held >= orgCap) {
      return {
        status: 429,
        message: `The org holds ${held} open MCP sessions, the most its plan allows (${orgCap}); close one (DELETE with its mcp-session-id), wait for an idle one to expire, or use stateless requests`,
        retryAfterSeconds: this.secondsUntilExpiry(orgId),
      };
    }
    this.hold(orgId);
    let settled = false;
    return {
      open: (id, session) => {
        if (settled) return;
        settled = true;
        this.sessions.set(id, session);
      },
      release: () => {
        if (settled) return;
        settled = true;
        this.drop(orgId);
      },
    };
  }

  /** Forgets the session. @returns it, for closing, when it was still held. */
  remove(id: string): McpSession | undefined {
    const session = this.sessions.get(id);
    if (!session) return undefined;
    this.sessions.delete(id);
    this.drop(session.orgId);
    return session;
  }

  /** Sessions unused for the idle time, to close. */
  idleIds(): string[] {
    const idleSince = this.limits.now() - this.limits.idleMs;
    return [...this.sessions].filter(([, session]) => session.lastSeen < idleSince).map(([id]) => id);
  }

  private hold(orgId: string): void {
    this.heldByOrg.set(orgId, this.heldBy(orgId) + 1);
    this.heldInAll += 1;
  }

  private drop(orgId: string): void {
    this.heldInAll -= 1;
    const held = this.heldBy(orgId) - 1;
    if (held > 0) this.heldByOrg.set(orgId, held);
    else this.heldByOrg.delete(orgId);
  }

  /** Seconds until the least recently used session (of `orgId`, or of any org) expires idle; at least 1. */
  private secondsUntilExpiry(orgId: string | undefined): number {
    let oldest = Infinity;
    for (const session of this.sessions.values()) {
      if (orgId === undefined || session.orgId === orgId) oldest = Math.min(oldest, session.lastSeen);
    }
    if (oldest === Infinity) return 1;
    return Math.max(1, Math.ceil((oldest + this.limits.idleMs - this.limits.now()) / 1000));
  }
}
