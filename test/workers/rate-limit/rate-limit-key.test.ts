import t from 'tap';
import { RateLimitKey } from '../../../src/workers/rate-limit/rate-limit-key.js';

t.test('ip: the client address, namespaced', async (t) => {
  t.equal(new RateLimitKey('ip').of('10.0.0.7', ['Host', 'x', 'X-Api-Key', 'k'], '*/api/'), 'ip:10.0.0.7');
});

t.test('route: one key per route label', async (t) => {
  const key = new RateLimitKey('route');
  t.equal(key.of('10.0.0.7', [], '*/api/'), 'r:*/api/');
  t.equal(key.of('10.0.0.8', [], '*/api/'), 'r:*/api/', 'whoever the client is');
});

t.test('header: case-insensitive, first non-empty value; without it, the client address', async (t) => {
  const key = new RateLimitKey('header:X-Api-Key');
  t.equal(key.of('10.0.0.7', ['host', 'a', 'x-api-key', 'alpha'], ''), 'h:alpha');
  t.equal(key.of('10.0.0.7', ['X-API-KEY', 'beta', 'x-api-key', 'gamma'], ''), 'h:beta');
  t.equal(key.of('10.0.0.7', ['x-api-key', '', 'x-api-key', 'delta'], ''), 'h:delta');
  t.equal(key.of('10.0.0.7', ['host', 'a'], ''), 'ip:10.0.0.7', 'absent: counted by address');
  t.equal(key.of('10.0.0.7', ['x-api-key', ''], ''), 'ip:10.0.0.7', 'empty: counted by address');
  t.equal(key.of('10.0.0.7', ['x-api-kez', 'alpha'], ''), 'ip:10.0.0.7', 'same length, other name');
});

t.test('a header value never names the bucket of an address, and long values are hashed', async (t) => {
  const key = new RateLimitKey('header:x-api-key');
  const byAddress = key.of('10.0.0.7', [], '');
  const byForgedHeader = key.of('10.0.0.9', ['x-api-key', 'ip:10.0.0.7'], '');
  t.not(byForgedHeader, byAddress);
  t.equal(byForgedHeader, 'h:ip:10.0.0.7');
  const long = 'k'.repeat(10_000);
  const hashed = key.of('10.0.0.7', ['x-api-key', long], '');
  t.match(hashed, /^hh:[A-Za-z0-9_-]{43}$/, 'a 10 kB value costs a 46-byte key');
  t.not(key.of('10.0.0.7', ['x-api-key', `${long}x`], ''), hashed, 'different long values stay apart');
});

t.test('unknown kinds are refused', async (t) => {
  t.throws(() => new RateLimitKey('tenant'), TypeError);
  t.throws(() => new RateLimitKey('header:'), TypeError);
});
