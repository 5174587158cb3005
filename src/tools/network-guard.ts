import type { LookupAddress } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { LookupFunction } from 'node:net';
import { Agent, buildConnector, fetch as undiciFetch } from 'undici';
import type { RequestInit as UndiciRequestInit } from 'undici';
import { StepFailure, permanentFailure } from '../domain/errors.js';

/**
 * Whether a request may reach non-public addresses: a flag (STEPWISE_ALLOW_PRIVATE_NETWORK),
 * or a decision per URL, asked again at every redirect hop.
 */
export type PrivateNetworkPolicy = boolean | ((url: URL) => boolean);

/**
 * Every address a host name resolves to. Injectable so a test can play a hostile DNS server
 * (one that answers differently each time) without a real one.
 */
export type Resolver = (hostname: string) => Promise<readonly LookupAddress[]>;

/** The system resolver, in the order it answers (what `fetch` itself would have used). */
export const systemResolver: Resolver = (hostname) => lookup(hostname, { all: true, verbatim: true });

/** Options of {@link guardedFetch}. */
export interface GuardedFetchOptions {
  allowPrivate: PrivateNetworkPolicy;
  /** Redirects followed before giving up; default 5. */
  maxRedirects?: number;
  /** How host names are resolved, both for the early check and at connect time; default the system's. */
  resolve?: Resolver;
}

const ALLOW_HINT = 'set STEPWISE_ALLOW_PRIVATE_NETWORK=1 to allow it';
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/**
 * The headers a redirect to another origin keeps: those that describe the request and its
 * body, and none that could carry a credential. Custom headers (`X-Api-Key`, a signature, a
 * tenant id) are meant for the origin the step named, so they are dropped with `Authorization`
 * and `Cookie`, whatever their name. `Idempotency-Key` stays: it is ours, names the side effect
 * rather than the caller, and is what lets the server that finally does the work dedupe a retry.
 */
const CROSS_ORIGIN_HEADERS: ReadonlySet<string> = new Set([
  'accept',
  'accept-encoding',
  'accept-language',
  'content-encoding',
  'content-language',
  'content-type',
  'idempotency-key',
  'user-agent',
]);

const IPV4_RANGES: ReadonlyArray<readonly [string, number, string]> = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT (CGNAT)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'reserved'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];

function ipv4ToInt(address: string): number {
  return address.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

const intToIpv4 = (value: number): string =>
  [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');

function ipv4Kind(value: number): string | null {
  for (const [base, bits, kind] of IPV4_RANGES) {
    const mask = (~0 << (32 - bits)) >>> 0;
    if ((value & mask) >>> 0 === ipv4ToInt(base)) return kind;
  }
  return null;
}

/** Eight 16-bit groups of an address that `isIP` already accepted as IPv6. */
function ipv6Groups(address: string): number[] {
  let text = address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = ipv4ToInt(dotted[1]!);
    text = `${text.slice(0, dotted.index)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const front = parse(head);
  const back = parse(tail);
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
}

const article = (word: string) => (/^[aeiouIU]/.test(word) ? 'an' : 'a');

/**
 * Why an IP address may not be reached from a public-only network policy, e.g.
 * `'a loopback address'`, or null when it is a public address. IPv6 forms that embed an
 * IPv4 address (mapped, compatible, well-known NAT64, 6to4) are judged by the embedded
 * address; IPv4-translated and local-use NAT64 addresses lead to local translators and are
 * refused whatever they embed.
 */
export function blockedAddressReason(address: string): string | null {
  const family = isIP(address);
  if (family === 4) {
    const kind = ipv4Kind(ipv4ToInt(address));
    return kind === null ? null : `${article(kind)} ${kind} address`;
  }
  if (family !== 6) return 'not an IP address';
  const g = ipv6Groups(address);
  const zeroUpTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  const embedded = (qualifier: string, high: number, low: number): string | null => {
    const v4 = ((high << 16) | low) >>> 0;
    const kind = ipv4Kind(v4);
    return kind === null ? null : `${article(qualifier)} ${qualifier} ${kind} address (${intToIpv4(v4)})`;
  };
  if (zeroUpTo(8)) return 'an unspecified address';
  if (zeroUpTo(7) && g[7] === 1) return 'a loopback address';
  if (zeroUpTo(5) && g[5] === 0xffff) return embedded('IPv4-mapped', g[6]!, g[7]!);
  // ::ffff:0:0:0/96 (RFC 2765): meant for a translator on the local network, never for the Internet.
  if (zeroUpTo(4) && g[4] === 0xffff && g[5] === 0) return 'an IPv4-translated address';
  if (zeroUpTo(6)) return embedded('IPv4-compatible', g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0))
    return embedded('NAT64', g[6]!, g[7]!);
  // 64:ff9b:1::/48 (RFC 8215): NAT64 prefixes of local translators, which reach local IPv4
  // networks, with the IPv4 address at a place the prefix length decides; refused whole.
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) return 'a local-use NAT64 address';
  if (g[0] === 0x2002) return embedded('6to4', g[1]!, g[2]!);
  const first = g[0]!;
  if ((first & 0xfe00) === 0xfc00) return 'a unique-local address';
  if ((first & 0xffc0) === 0xfe80) return 'a link-local address';
  if ((first & 0xffc0) === 0xfec0) return 'a site-local (private) address';
  if ((first & 0xff00) === 0xff00) return 'a multicast address';
  return null;
}

/** The URL without query, fragment or credentials: safe to put in a message a user reads. */
export const describeUrl = (url: URL): string => `${url.origin}${url.pathname}`;

const privateAllowed = (policy: PrivateNetworkPolicy, url: URL): boolean =>
  typeof policy === 'function' ? policy(url) : policy;

/** The one message a refused address gets, whether the early check or the connection refused it. */
function blockedFailure(url: URL, host: string, address: string, reason: string): StepFailure {
  const via = address === host ? address : `${address} (${host})`;
  return permanentFailure(
    'NETWORK_BLOCKED',
    `request to ${describeUrl(url)} refused: ${via} is ${reason}; ${ALLOW_HINT}`,
    { address },
  );
}

function dnsFailure(host: string, error: unknown): StepFailure {
  const code = (error as NodeJS.ErrnoException).code ?? String(error);
  return new StepFailure('DNS_FAILED', `could not resolve ${host}: ${code}`, { cause: error });
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Parses `url`, refuses anything but http and https, and unless the policy allows private
 * networks resolves the host and refuses it when any address it resolves to is not public
 * (one private answer is enough for a rebinding attack to pick it). Alone it is only a
 * pre-check, since the name may resolve differently when a connection is made: requests go
 * through {@link guardedFetch}, which checks again on the connection.
 *
 * @throws StepFailure `NETWORK_BLOCKED` (non-retriable) naming the address and the setting
 *   that allows it; `URL_INVALID` for an unparsable URL; a retriable `DNS_FAILED` when the
 *   name does not resolve.
 */
export async function assertPublicUrl(
  url: string | URL,
  allowPrivate: PrivateNetworkPolicy,
  signal?: AbortSignal,
  resolve: Resolver = systemResolver,
): Promise<URL> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw permanentFailure('URL_INVALID', `'${String(url)}' is not an absolute URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw permanentFailure(
      'NETWORK_BLOCKED',
      `request to ${parsed.protocol}//${parsed.host} refused: only http and https URLs are allowed`,
    );
  }
  if (privateAllowed(allowPrivate, parsed)) return parsed;

  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: string[];
  if (isIP(host)) {
    addresses = [host];
  } else {
    try {
      addresses = (await abortable(resolve(host), signal)).map((a) => a.address);
    } catch (error) {
      if (signal?.aborted) throw error;
      throw dnsFailure(host, error);
    }
  }
  for (const address of addresses) {
    const reason = blockedAddressReason(address);
    if (reason !== null) throw blockedFailure(parsed, host, address, reason);
  }
  return parsed;
}

/**
 * Raised inside the connector, which knows the host but not the URL; {@link guardedFetch}
 * turns it into the same `NETWORK_BLOCKED` failure the early check gives.
 */
class RefusedAddress extends Error {
  readonly code = 'NETWORK_BLOCKED';
  constructor(
    readonly host: string,
    readonly address: string,
    readonly reason: string,
  ) {
    super(`${address} (${host}) is ${reason}`);
  }
}

/** A connect-time lookup failure on a guarded connection, reported as `DNS_FAILED` like the early one. */
class UnresolvedHost extends Error {
  constructor(
    readonly host: string,
    cause: unknown,
  ) {
    super(`could not resolve ${host}`, { cause });
  }
}

/** The answers to hand to `net.connect` for the family it asked for (0: any). */
function usableAnswers(
  host: string,
  answers: readonly LookupAddress[],
  family: number | string | undefined,
  check: boolean,
): LookupAddress[] {
  if (check) {
    // Every answer, not only the one used: one private answer is all a rebinding attack needs.
    for (const { address } of answers) {
      const reason = blockedAddressReason(address);
      if (reason !== null) throw new RefusedAddress(host, address, reason);
    }
  }
  const wanted = family === 4 || family === 'IPv4' ? 4 : family === 6 || family === 'IPv6' ? 6 : 0;
  const usable = answers
    .filter((a) => wanted === 0 || a.family === wanted)
    .map(({ address, family: f }) => ({ address, family: f }));
  if (usable.length === 0) {
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND', hostname: host });
  }
  return usable;
}

/**
 * The `lookup` hook of `net.connect`: resolves once and hands the socket exactly the answers
 * it checked, so no second resolution can swap in another address. `net` does its usual
 * happy-eyeballs over them (it asks with `all: true` then).
 */
function pinnedLookup(resolve: Resolver, check: boolean): LookupFunction {
  return (hostname, options, callback) => {
    void Promise.resolve()
      .then(() => resolve(hostname))
      .then(
        (answers) => usableAnswers(hostname, answers, options.family, check),
        (error: unknown) => {
          throw check ? new UnresolvedHost(hostname, error) : error;
        },
      )
      .then(
        // nextTick: an exception inside net's callback must not vanish into this promise.
        (usable) =>
          process.nextTick(() =>
            options.all ? callback(null, usable) : callback(null, usable[0]!.address, usable[0]!.family),
          ),
        (error: NodeJS.ErrnoException) => process.nextTick(() => callback(error, '')),
      );
  };
}

/**
 * undici connector that applies the address policy to the address actually connected to.
 * `net` skips `lookup` for IP literals, so those are checked here. TLS keeps the host name
 * as SNI and for the certificate check, as undici derives them from the Host, not the address.
 */
function connectorFor(resolve: Resolver, check: boolean): buildConnector.connector {
  const connect = buildConnector({ lookup: pinnedLookup(resolve, check) });
  return (options, callback) => {
    const host = options.hostname.replace(/^\[(.*)\]$/, '$1');
    const reason = check && isIP(host) ? blockedAddressReason(host) : null;
    if (reason !== null) return callback(new RefusedAddress(host, host, reason), null);
    connect(options, callback);
  };
}

/**
 * One pair of agents per resolver: `guarded` refuses non-public addresses at connect time,
 * `open` (private networks allowed) only pins the lookup. Separate pools, so a kept-alive
 * connection opened under an allowing policy is never reused by a public-only request.
 */
const agents = new WeakMap<Resolver, { guarded: Agent; open: Agent }>();

function agentsFor(resolve: Resolver): { guarded: Agent; open: Agent } {
  let pair = agents.get(resolve);
  if (!pair) {
    pair = {
      guarded: new Agent({ connect: connectorFor(resolve, true) }),
      open: new Agent({ connect: connectorFor(resolve, false) }),
    };
    agents.set(resolve, pair);
  }
  return pair;
}

/** Finds a refusal from our connector under undici's `TypeError('fetch failed')` wrapping. */
function connectFailure(error: unknown, target: URL): unknown {
  let e: unknown = error;
  for (let depth = 0; e instanceof Error && depth < 4; depth++, e = e.cause) {
    if (e instanceof RefusedAddress) return blockedFailure(target, e.host, e.address, e.reason);
    if (e instanceof UnresolvedHost) return dnsFailure(e.host, e.cause);
  }
  return error;
}

/**
 * `fetch` that checks the target with {@link assertPublicUrl} before every hop: redirects
 * are followed by hand (`redirect: 'manual'`) so each Location is checked too. 303, and
 * 301/302 after a POST, continue as a bodiless GET, as browsers do; a redirect that
 * leaves the origin keeps only the headers of {@link CROSS_ORIGIN_HEADERS}. Pass
 * `init.signal` to make it abortable.
 *
 * The early check gives a quick, clear refusal; the one that counts happens at connect time
 * (see {@link connectorFor}) on the address the socket really uses, so a DNS answer that
 * changes between the check and the connection (rebinding) is refused too.
 *
 * @returns a Response of the `undici` package (same interface as the global one).
 * @throws StepFailure `NETWORK_BLOCKED`, `URL_INVALID`, `DNS_FAILED`, or non-retriable
 *   `TOO_MANY_REDIRECTS`; other network errors from `fetch` pass through unchanged.
 */
export async function guardedFetch(
  url: string | URL,
  init: RequestInit,
  { allowPrivate, maxRedirects = 5, resolve = systemResolver }: GuardedFetchOptions,
): Promise<Response> {
  const signal = init.signal ?? undefined;
  const { guarded, open } = agentsFor(resolve);
  let target = await assertPublicUrl(url, allowPrivate, signal, resolve);
  let method = (init.method ?? 'GET').toUpperCase();
  let body = init.body;
  const headers = new Headers(init.headers);
  for (let hop = 0; ; hop++) {
    const dispatcher = privateAllowed(allowPrivate, target) ? open : guarded;
    let response: Response;
    try {
      // undici's own fetch: the Agent must drive a fetch of the same undici (Node's built-in
      // fetch bundles another version). Its Response has the global interface.
      const request = { ...init, method, body, headers: [...headers], redirect: 'manual', dispatcher };
      response = (await undiciFetch(target, request as UndiciRequestInit)) as unknown as Response;
    } catch (error) {
      throw connectFailure(error, target);
    }
    const location = response.headers.get('location');
    if (!REDIRECT_STATUSES.has(response.status) || location === null) return response;
    await response.body?.cancel();
    if (hop >= maxRedirects) {
      throw permanentFailure(
        'TOO_MANY_REDIRECTS',
        `${method} ${describeUrl(target)} redirected more than ${maxRedirects} times`,
      );
    }
    const next = new URL(location, target);
    if (
      response.status === 303 ||
      ((response.status === 301 || response.status === 302) && method === 'POST')
    ) {
      if (method !== 'HEAD') method = 'GET';
      body = undefined;
      for (const name of ['content-type', 'content-length', 'content-encoding']) headers.delete(name);
    }
    if (next.origin !== target.origin) {
      for (const name of [...headers.keys()]) if (!CROSS_ORIGIN_HEADERS.has(name)) headers.delete(name);
    }
    target = await assertPublicUrl(next, allowPrivate, signal, resolve);
  }
}
