import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StepFailure } from '../domain/errors.js';
import { startHttpRecorder } from '../../test/support/http-recorder.js';
import type { HttpRecorder } from '../../test/support/http-recorder.js';
import { assertPublicUrl, blockedAddressReason, guardedFetch } from './network-guard.js';

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

  it('drops credentials when a redirect leaves the origin', async () => {
    const other = await startHttpRecorder();
    try {
      server.script('/away', { status: 307, headers: { location: `${other.url}/landing` } });
      await guardedFetch(
        `${server.url}/away`,
        { headers: { authorization: 'Bearer x', 'x-keep': '1' } },
        { allowPrivate: true },
      );
      const landing = other.requestsTo('/landing')[0]!;
      expect(landing.headers.authorization).toBeUndefined();
      expect(landing.headers['x-keep']).toBe('1');
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
