/**
 * CertificateStore: names come from the certificates (DNS SANs, else the CN), SNI selection by
 * exact name then one-label wildcard, the first certificate as default, and every unusable file
 * reported with its config path (the worker refuses such a snapshot; the running one stays).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateStore, namesOf } from '../../../src/workers/runtime/tls-certificates.js';

const dir = mkdtempSync(join(tmpdir(), 'veloflux-certs-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string) => join(dir, name);

/** A self-signed EC certificate `<name>.pem` / `<name>.key`; `altNames` empty: CN only. */
function selfSigned(name: string, cn: string, altNames: string): { cert: string; key: string } {
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', file(`${name}.key`), '-out', file(`${name}.pem`), '-days', '1', '-subj', `/CN=${cn}`];
  if (altNames !== '') args.push('-addext', `subjectAltName=${altNames}`);
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  return { cert: file(`${name}.pem`), key: file(`${name}.key`) };
}

const first = selfSigned('first', 'first.test', 'DNS:first.test,DNS:www.first.test,IP:127.0.0.1');
const wildcard = selfSigned('wild', 'ignored-cn.test', 'DNS:*.shop.test,DNS:shop.test');
const cnOnly = selfSigned('cn', 'Legacy.Test', '');
const overlapping = selfSigned('overlap', 'first.test', 'DNS:first.test,DNS:only-here.test');

const fingerprint = (pem: string) => new X509Certificate(readFileSync(pem)).fingerprint256;

t.test('names: DNS subjectAltNames (lower-cased), else the subject CN', async (t) => {
  t.same(namesOf(new X509Certificate(readFileSync(first.cert))), ['first.test', 'www.first.test']);
  t.same(namesOf(new X509Certificate(readFileSync(wildcard.cert))), ['*.shop.test', 'shop.test'], 'the CN is ignored when there are DNS SANs');
  t.same(namesOf(new X509Certificate(readFileSync(cnOnly.cert))), ['legacy.test']);
});

t.test('select: exact name, then a one-label wildcard, else the first certificate', async (t) => {
  const store = CertificateStore.load([first, wildcard, cnOnly, overlapping]);
  t.same(store.certificates.map((c) => c.names), [['first.test', 'www.first.test'], ['*.shop.test', 'shop.test'], ['legacy.test'], ['first.test', 'only-here.test']]);
  const contextOf = (i: number) => store.certificates[i]!.context;
  t.equal(store.select('first.test'), contextOf(0));
  t.equal(store.select('WWW.First.Test.'), contextOf(0), 'case and a trailing dot do not matter');
  t.equal(store.select('a.shop.test'), contextOf(1));
  t.equal(store.select('shop.test'), contextOf(1));
  t.equal(store.select('a.b.shop.test'), contextOf(0), 'a wildcard covers one label only (RFC 6125)');
  t.equal(store.select('legacy.test'), contextOf(2));
  t.equal(store.select('only-here.test'), contextOf(3));
  t.equal(store.select('first.test'), contextOf(0), 'a name in two certificates goes to the first');
  t.equal(store.select('unknown.test'), contextOf(0));
  t.equal(store.select(''), contextOf(0));
  t.equal(store.defaultOptions.cert, readFileSync(first.cert, 'utf8'));
  t.equal(store.defaultOptions.minVersion, 'TLSv1.2');
  t.not(fingerprint(first.cert), fingerprint(overlapping.cert));
});

t.test('unusable files are reported with their config path, all at once', async (t) => {
  writeFileSync(file('garbage.pem'), 'not a certificate\n');
  const err = (() => {
    try {
      CertificateStore.load([
        { cert: file('missing.pem'), key: first.key },
        { cert: first.cert, key: wildcard.key },
        { cert: file('garbage.pem'), key: first.key },
        { cert: first.cert, key: file('garbage.pem') },
        first,
      ]);
      return undefined;
    } catch (e) {
      return e as Error & { code?: string };
    }
  })();
  t.ok(err, 'throws');
  t.equal(err?.code, 'VF_ERR_CONFIG_INVALID');
  t.match(err?.message, /server\.https\.certificates\[0\]\.cert: cannot read ".*missing\.pem": ENOENT/);
  t.match(err?.message, /server\.https\.certificates\[1\]\.key: ".*wild\.key" does not match the certificate .*first\.pem/);
  t.match(err?.message, /server\.https\.certificates\[2\]\.cert: ".*garbage\.pem" is not a PEM certificate/);
  t.match(err?.message, /server\.https\.certificates\[3\]\.key: ".*garbage\.pem" is not an unencrypted PEM private key/);
  t.notMatch(err?.message, /certificates\[4\]/);
});
