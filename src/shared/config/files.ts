/**
 * Checks of the files a config names (certificates, keys, CA bundles): readable, parseable, and
 * each key matching its certificate. Run with validation in the primary and by `veloflux check`,
 * so a bad file is a config error with its path and the running config keeps serving.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { VelofluxConfig } from './schema.js';
import type { ConfigProblem } from './problems.js';

function read(path: string, at: (string | number)[], problems: ConfigProblem[]): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    problems.push({ path: at, message: `cannot read "${path}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    return undefined;
  }
}

function parseCertificate(pem: string, at: (string | number)[], problems: ConfigProblem[]): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    problems.push({ path: at, message: 'not a PEM certificate' });
    return undefined;
  }
}

export function checkFiles(config: Readonly<VelofluxConfig>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  config.server.https?.certificates.forEach((entry, i) => {
    const base = ['server', 'https', 'certificates', i];
    const certPem = read(entry.cert, [...base, 'cert'], problems);
    const keyPem = read(entry.key, [...base, 'key'], problems);
    const cert = certPem === undefined ? undefined : parseCertificate(certPem, [...base, 'cert'], problems);
    if (keyPem === undefined) return;
    let key;
    try {
      key = createPrivateKey(keyPem);
    } catch {
      problems.push({ path: [...base, 'key'], message: 'not a PEM private key (or it is encrypted)' });
      return;
    }
    if (cert !== undefined && !cert.checkPrivateKey(key)) problems.push({ path: [...base, 'key'], message: `does not match the certificate ${entry.cert}` });
  });
  config.pools.forEach((pool, i) => {
    if (pool.tls.ca === undefined) return;
    const pem = read(pool.tls.ca, ['pools', i, 'tls', 'ca'], problems);
    if (pem !== undefined) parseCertificate(pem, ['pools', i, 'tls', 'ca'], problems);
  });
  return problems;
}
