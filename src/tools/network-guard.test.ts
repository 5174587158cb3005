import { createServer, isIP } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StepFailure } from '../domain/errors.js';
import { startHttpRecorder } from '../../test/support/http-recorder.js';
import type { HttpRecorder } from '../../test/support/http-recorder.js';
import { assertPublicUrl, blockedAddressReason, guardedFetch } from './network-guard.js';
import type { Resolver } from './network-guard.js';

async function failureOf(promise: Promise<unknown>): Promise<StepFailure> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StepFailure);
  return error as StepFailure;
}

describe('blockedAddressReason', () => {
  it.each([
    ['127.0.0.1', 'a loopback address'],
    ['127.255.0.9', 'a loopback address'],
    ['10.1.2.3', 'a private address'],
    ['172.16.0.1', 'a private address'],
    ['172.31.255.255', 'a private address'],
    ['192.168.1.1', 'a private address'],
    ['169.254.169.254', 'a link-local address'],
    ['100.64.0.1', 'a carrier-grade NAT (CGNAT) address'],
    ['0.0.0.0', 'an unspecified address'],
    ['224.0.0.1', 'a multicast address'],
    ['255.255.255.255', 'a reserved address'],
    ['::', 'an unspecified address'],
    ['::1', 'a loopback address'],
    ['fe80::1', 'a link-local address'],
    ['fd12:3456::1', 'a unique-local address'],
    ['fc00::1', 'a unique-local address'],
    ['ff02::1', 'a multicast address'],
    ['::ffff:127.0.0.1', 'an IPv4-mapped loopback address (127.0.0.1)'],
    ['::ffff:7f00:1', 'an IPv4-mapped loopback address (127.0.0.1)'],
    ['::ffff:a9fe:a9fe', 'an IPv4-mapped link-local address (169.254.169.254)'],
    ['64:ff9b::10.0.0.1', 'a NAT64 private address (10.0.0.1)'],
    ['2002:c0a8:0101::1', 'a 6to4 private address (192.168.1.1)'],
    ['::ffff:0:127.0.0.1', 'an IPv4-translated address'],
    ['::ffff:0:8.8.8.8', 'an IPv4-translated address'],
    ['::ffff:0:a00:1', 'an IPv4-translated address'],
    ['64:ff9b:1::10.0.0.1', 'a local-use NAT64 address'],
    ['64:ff9b:1:ffff:ffff:ffff:ffff:ffff', 'a local-use NAT64 address'],
    ['64:ff9b:1:a00:100::', 'a local-use NAT64 address'],
  ])('refuses %s as %s', (address, reason) => {
    expect(blockedAddressReason(address)).toBe(reason);
  });

  it.each([
    '8.8.8.8',
    '172.32.0.1',
    '100.128.0.1',
    '93.184.216.34',
    '2606:4700::1111',
    '::ffff:8.8.8.8',
    '2002:808:808::1',
    '64:ff9b::8.8.8.8',
    '64:ff9b:2::1',
    '::fffe:0:808:808',
  ])('lets public %s through', (address) => {
    expect(blockedAddressReason(address)).toBeNull();
  });
});

describe('assertPublicUrl', () => {
  it('refuses a loopback literal, naming the address and the setting that allows it', async () => {
    const failure = await failureOf(assertPublicUrl('http://127.0.0.1:8080/admin?token=secret', false));
    expect(failure.code).toBe('NETWORK_BLOCKED');
    expect(failure.retriable).toBe(false);
    expect(failure.message).toBe(
      'request to http://127.0.0.1:8080/admin refused: 127.0.0.1 is a loopback address; set STEPWISE_ALLOW_PRIVATE_NETWORK=1 to allow it',
    );
  });

  it('refuses names that resolve to loopback', async () => {
    const failure = await failureOf(assertPublicUrl('http://localhost:3000/', false));
    expect(failure.code).toBe('NETWORK_BLOCKED');
    expect(failure.message).toMatch(
      /^request to http:\/\/localhost:3000\/ refused: (127\.0\.0\.1|::1) \(localhost\) is a loopback address;/,
    );
  });

  it('refuses IPv6 literals and alternative IPv4 spellings', async () => {
    expect((await failureOf(assertPublicUrl('http://[::1]/', false))).message).toContain(
      '::1 is a loopback address',
    );
    expect((await failureOf(assertPublicUrl('http://[::ffff:10.0.0.1]/', false))).message).toContain(
      'is an IPv4-mapped private address (10.0.0.1)',
    );
    expect((await failureOf(assertPublicUrl('http://[::ffff:0:7f00:1]/', false))).message).toContain(
      'is an IPv4-translated address',
    );
    expect((await failureOf(assertPublicUrl('http://[64:ff9b:1::a00:1]/', false))).message).toContain(
      'is a local-use NAT64 address',
    );
    expect((await failureOf(assertPublicUrl('http://0x7f000001/', false))).message).toContain(
      '127.0.0.1 is a loopback',
    );
    expect((await failureOf(assertPublicUrl('http://2130706433/', false))).message).toContain(
      '127.0.0.1 is a loopback',
    );
  });

  it('refuses schemes other than http and https, even when private networks are allowed', async () => {
    const failure = await failureOf(assertPublicUrl('file:///etc/passwd', true));
    expect(failure.code).toBe('NETWORK_BLOCKED');
    expect(failure.message).toContain('only http and https URLs are allowed');
  });

  it('lets anything http through when private networks are allowed', async () => {
    expect((await assertPublicUrl('http://127.0.0.1:1/x', true)).href).toBe('http://127.0.0.1:1/x');
  });

  it('passes public literals without a DNS lookup', async () => {
    expect((await assertPublicUrl('https://8.8.8.8/', false)).hostname).toBe('8.8.8.8');
  });

  it('reports names that do not resolve as a retriable DNS failure', async () => {
    const failure = await failureOf(assertPublicUrl('http://nothing-here.invalid/', false));
    expect(failure.code).toBe('DNS_FAILED');
    expect(failure.retriable).toBe(true);
  });
});

describe('guardedFetch', () => {
  let server: HttpRecorder;
  beforeAll(async () => {
    server = await startHttpRecorder();
  });
  afterAll(() => server.close());

  /** Lets the test server through, and nothing else private: a redirect must be re-checked. */
  const onlyTestServer = (url: URL) => url.origin === server.url;

  it('re-checks every redirect hop and refuses one that leads to a private address', async () => {
    server.script('/hop', { status: 302, headers: { location: 'http://169.254.169.254/latest/meta-data/' } });
    const failure = await failureOf(guardedFetch(`${server.url}/hop`, {}, { allowPrivate: onlyTestServer }));
    expect(failure.code).toBe('NETWORK_BLOCKED');
    expect(failure.message).toContain('169.254.169.254 is a link-local address');
    expect(server.requestsTo('/hop')).toHaveLength(1);
  });

  it('follows allowed redirects, turning a POST into a GET on 303 and dropping credentials across origins', async () => {
    server.script('/post', { status: 303, headers: { location: '/done' } });
    server.script('/done', { json: { arrived: true } });
    const response = await guardedFetch(
      `${server.url}/post`,
      {
        method: 'POST',
        body: '{"a":1}',
        headers: { 'content-type': 'application/json', authorization: 'Bearer x' },
      },
      { allowPrivate: true },
    );
    expect(await response.json()).toEqual({ arrived: true });
    const done = server.requestsTo('/done').at(-1)!;
    expect(done.method).toBe('GET');
    expect(done.body).toBe('');
    // Same origin: the credentials stay.
    expect(done.headers.authorization).toBe('Bearer x');
  });

  it('drops every credential-like header when a redirect leaves the origin, keeping those that describe the request', async () => {
    const other = await startHttpRecorder();
    const sent = {
      authorization: 'Bearer x',
      'proxy-authorization': 'Basic eA==',
      cookie: 'session=1',
      'x-api-key': 'sk_live_secret',
      'x-tenant': 'acme',
      'webhook-signature': 'v1,abc',
      accept: 'application/json',
      'accept-language': 'fr',
      'content-type': 'application/json',
      'idempotency-key': 'run_1:call',
      'user-agent': 'stepwise/test',
    };
    try {
      server.script('/away', { status: 307, headers: { location: `${other.url}/landing` } });
      server.script('/stay', { status: 307, headers: { location: '/stayed' } });
      await guardedFetch(
        `${server.url}/away`,
        { method: 'POST', body: '{"a":1}', headers: sent },
        { allowPrivate: true },
      );
      const landing = other.requestsTo('/landing')[0]!;
      expect(landing.method).toBe('POST');
      expect(landing.body).toBe('{"a":1}');
      for (const name of [
        'authorization',
        'proxy-authorization',
        'cookie',
        'x-api-key',
        'x-tenant',
        'webhook-signature',
      ]) {
        expect(landing.headers[name], name).toBeUndefined();
      }
      expect(landing.headers).toMatchObject({
        accept: 'application/json',
        'accept-language': 'fr',
        'content-type': 'application/json',
        'idempotency-key': 'run_1:call',
        'user-agent': 'stepwise/test',
      });

      // The same origin gets every header, custom ones included.
      await guardedFetch(`${server.url}/stay`, { headers: sent }, { allowPrivate: true });
      expect(server.requestsTo('/stayed')[0]!.headers).toMatchObject({
        'x-api-key': 'sk_live_secret',
        'x-tenant': 'acme',
        cookie: 'session=1',
      });
    } finally {
      await other.close();
    }
  });

  it('stops after maxRedirects', async () => {
    server.script('/loop', { status: 307, headers: { location: '/loop' } });
    const failure = await failureOf(
      guardedFetch(`${server.url}/loop`, {}, { allowPrivate: true, maxRedirects: 2 }),
    );
    expect(failure.code).toBe('TOO_MANY_REDIRECTS');
    expect(failure.message).toBe(`GET ${server.url}/loop redirected more than 2 times`);
    expect(server.requestsTo('/loop')).toHaveLength(3);
  });
});

/**
 * A resolver that answers from a script, one answer per lookup (the last one repeats): a
 * stand-in for a hostile DNS server with a zero TTL, injected instead of the system's.
 */
function scriptedResolver(...answers: string[][]): Resolver & { calls: number } {
  const resolver = Object.assign(
    async (_hostname: string) => {
      const next = answers[Math.min(resolver.calls, answers.length - 1)]!;
      resolver.calls++;
      return next.map((address) => ({ address, family: isIP(address) }));
    },
    { calls: 0 },
  );
  return resolver;
}

describe('guardedFetch checks the address it connects to', () => {
  let server: HttpRecorder;
  let port: string;
  beforeAll(async () => {
    server = await startHttpRecorder();
    port = new URL(server.url).port;
  });
  afterAll(() => server.close());

  it('refuses a DNS rebinding: public for the check, loopback for the connection', async () => {
    const url = `http://rebind.test:${port}/secret`;
    // The early check alone is fooled: it sees only the first, public answer. The old code
    // then let fetch resolve again, and connected to the second.
    const checkOnly = scriptedResolver(['93.184.216.34'], ['127.0.0.1']);
    expect((await assertPublicUrl(url, false, undefined, checkOnly)).hostname).toBe('rebind.test');

    const rebinding = scriptedResolver(['93.184.216.34'], ['127.0.0.1']);
    const failure = await failureOf(guardedFetch(url, {}, { allowPrivate: false, resolve: rebinding }));
    expect(failure.code).toBe('NETWORK_BLOCKED');
    expect(failure.retriable).toBe(false);
    expect(failure.message).toBe(
      `request to http://rebind.test:${port}/secret refused: 127.0.0.1 (rebind.test) is a loopback address; set STEPWISE_ALLOW_PRIVATE_NETWORK=1 to allow it`,
    );
    expect(rebinding.calls).toBe(2);
    expect(server.requestsTo('/secret')).toHaveLength(0);
  });

  it('refuses a public-looking name that resolves to a loopback server, and allows it when private networks are', async () => {
    const url = `http://api.example.com:${port}/data`;
    const resolve = scriptedResolver(['127.0.0.1']);
    const failure = await failureOf(guardedFetch(url, {}, { allowPrivate: false, resolve }));
    expect(failure.code).toBe('NETWORK_BLOCKED');
    expect(failure.message).toContain('127.0.0.1 (api.example.com) is a loopback address');
    expect(server.requestsTo('/data')).toHaveLength(0);

    server.script('/data', { json: { reached: true } });
    const response = await guardedFetch(url, {}, { allowPrivate: true, resolve });
    expect(await response.json()).toEqual({ reached: true });
    // Connected to the resolved address; the Host header still names the host.
    expect(server.requestsTo('/data')[0]!.headers.host).toBe(`api.example.com:${port}`);
  });

  it('refuses at connect time when any answer is private, IPv4-mapped ones included', async () => {
    const mixed = scriptedResolver(['93.184.216.34'], ['93.184.216.34', '::ffff:127.0.0.1']);
    const failure = await failureOf(
      guardedFetch(`http://mixed.test:${port}/m`, {}, { allowPrivate: false, resolve: mixed }),
    );
    expect(failure.message).toContain(
      '::ffff:127.0.0.1 (mixed.test) is an IPv4-mapped loopback address (127.0.0.1)',
    );
    expect(server.requestsTo('/m')).toHaveLength(0);
  });

  it('guards every redirect hop at connect time', async () => {
    const resolve = scriptedResolver(['93.184.216.34'], ['169.254.169.254']);
    server.script('/go', { status: 302, headers: { location: `http://metadata.test:${port}/latest` } });
    const onlyTestServer = (url: URL) => url.origin === server.url;
    const failure = await failureOf(
      guardedFetch(`${server.url}/go`, {}, { allowPrivate: onlyTestServer, resolve }),
    );
    expect(failure.message).toContain('169.254.169.254 (metadata.test) is a link-local address');
    expect(server.requestsTo('/go')).toHaveLength(1);
    expect(server.requestsTo('/latest')).toHaveLength(0);
  });

  it('reports a name that stops resolving at connect time as a retriable DNS failure', async () => {
    const gone = scriptedResolver(['93.184.216.34']);
    const flaky: Resolver = async (hostname) => {
      if (gone.calls > 0) throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
      return gone(hostname);
    };
    const failure = await failureOf(
      guardedFetch(`http://gone.test:${port}/`, {}, { allowPrivate: false, resolve: flaky }),
    );
    expect(failure.code).toBe('DNS_FAILED');
    expect(failure.retriable).toBe(true);
    expect(failure.message).toBe('could not resolve gone.test: ENOTFOUND');
  });

  it('keeps the host name as TLS server name (SNI) while connecting to the resolved address', async () => {
    // A bare TCP listener: the ClientHello carries the SNI in clear; no certificate needed.
    let hello = '';
    const tlsPeer = createServer((socket) =>
      socket.once('data', (chunk: Buffer) => {
        hello = chunk.toString('latin1');
        socket.destroy();
      }),
    );
    await new Promise<void>((resolve) => tlsPeer.listen(0, '127.0.0.1', resolve));
    try {
      const tlsPort = (tlsPeer.address() as AddressInfo).port;
      const resolve = scriptedResolver(['127.0.0.1']);
      await expect(
        guardedFetch(`https://secure.example.com:${tlsPort}/`, {}, { allowPrivate: true, resolve }),
      ).rejects.toThrow();
      expect(hello).toContain('secure.example.com');
    } finally {
      await new Promise((resolve) => tlsPeer.close(resolve));
    }
  });
});
