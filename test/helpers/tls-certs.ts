/**
 * Test certificates made by the openssl CLI at test time: a CA and leaf certificates it signs
 * (EC P-256: fast to generate), in a temp dir removed at teardown.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificates {
  readonly dir: string;
  /** The CA certificate (PEM text), for clients that verify. */
  readonly ca: string;
  /** Issues `<name>.pem` / `<name>.key` for `altNames` (e.g. `DNS:localhost,IP:127.0.0.1`); returns their paths. */
  issue(name: string, altNames: string): { cert: string; key: string };
  remove(): void;
}

const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'veloflux-certs-'));
  const file = (name: string) => join(dir, name);
  openssl('req', '-x509', ...newKey, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=VeloFlux Test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  let serial = 1;
  return {
    dir,
    ca: readFileSync(file('ca.pem'), 'utf8'),
    issue(name, altNames) {
      openssl('req', ...newKey, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${name}`);
      writeFileSync(file(`${name}.ext`), `subjectAltName=${altNames}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
      openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-set_serial', `0x${Date.now().toString(16)}${serial++}`,
        '-days', '2', '-extfile', file(`${name}.ext`), '-out', file(`${name}.pem`));
      return { cert: file(`${name}.pem`), key: file(`${name}.key`) };
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
