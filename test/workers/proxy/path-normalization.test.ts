import t from 'tap';
import { normalizePath, routingPath } from '../../../src/workers/proxy/path-normalization.js';

t.test('normal paths come back as they are (the same string)', async (t) => {
  for (const path of ['/', '/api/users', '/a.b/c.d', '/x?y=/../%zz', '/x?y=//z', '/.well-known/acme', '/a;b/c']) t.equal(normalizePath(path), path, path);
});

t.test('unreserved escapes are decoded, others upper-cased and kept', async (t) => {
  t.equal(normalizePath('/%61dmin'), '/admin');
  t.equal(normalizePath('/%41%2d%5f%7E%2e'), '/A-_~.');
  t.equal(normalizePath('/a%2fb'), '/a%2Fb', 'an encoded slash stays encoded: it must not create a segment');
  t.equal(normalizePath('/a%5cb'), '/a%5Cb', 'so does a backslash');
  t.equal(normalizePath('/caf%c3%a9'), '/caf%C3%A9', 'non-ASCII stays encoded, upper-cased');
  t.equal(normalizePath('/%61?q=%61'), '/a?q=%61', 'the query is left as sent');
});

t.test('dot-segments are removed, never above the root (RFC 3986 5.2.4)', async (t) => {
  const cases: [string, string][] = [
    ['/a/../admin', '/admin'],
    ['/a/./b', '/a/b'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/%2e%2e/admin', '/admin'],
    ['/a/%2E%2E/%2e/admin?x=1', '/admin?x=1'],
    ['/a/..%2fb', '/a/..%2Fb'],
    ['/.hidden/x', '/.hidden/x'],
  ];
  for (const [input, expected] of cases) t.equal(normalizePath(input), expected, `${input} -> ${expected}`);
});

t.test('malformed escapes and raw backslashes: undefined (a 400)', async (t) => {
  for (const path of ['/%', '/%4', '/%zz', '/a%g1b', '/x\\..\\limited/a', '/a\\b']) t.equal(normalizePath(path), undefined, path);
});

t.test('runs of slashes are merged, as nginx merge_slashes does', async (t) => {
  const cases: [string, string][] = [
    ['//limited/a', '/limited/a'],
    ['/a//b', '/a/b'],
    ['/a///b//', '/a/b/'],
    ['//', '/'],
    ['/a//../b', '/b'],
    ['//a?x=//y', '/a?x=//y'],
  ];
  for (const [input, expected] of cases) t.equal(normalizePath(input), expected, `${input} -> ${expected}`);
});

t.test('routes match the path without its parameters; the same string when there are none', async (t) => {
  const cases: [string, string][] = [
    ['/limited;x/a', '/limited/a'],
    ['/a/..;x/limited/a', '/limited/a'],
    ['/a;jsessionid=1', '/a'],
    ['/a;b;c/d;e/', '/a/d/'],
    ['/a?q=;x', '/a?q=;x'],
    ['/plain/path', '/plain/path'],
  ];
  for (const [input, expected] of cases) t.equal(routingPath(input), expected, `${input} -> ${expected}`);
  const plain = '/plain/path';
  t.equal(routingPath(plain), plain);
});
