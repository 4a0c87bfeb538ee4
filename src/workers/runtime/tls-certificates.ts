/**
 * The HTTPS listener's certificates: PEM files read from disk whenever a snapshot is built (so a
 * reload picks up renewed files without a restart), checked (readable, parseable, key matches
 * cert), and turned into one secure context each. The served one is chosen by SNI from the names
 * in the certificates themselves (DNS subjectAltNames, else the subject CN), as Caddy and
 * Traefik do; a client without SNI, or with a name no certificate covers, gets the first one.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { VelofluxError } from '../../shared/errors.js';

export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
}

/** RFC 8996: TLS 1.0 and 1.1 are deprecated; nothing older than 1.2 is negotiated. */
export const MIN_TLS_VERSION = 'TLSv1.2';
/**
 * What the HTTPS listener offers by ALPN, in the server's order of preference (RFC 7301 §3.2):
 * h2 first when enabled (RFC 9113 §3.2), http/1.1 for every other client.
 */
export function alpnProtocols(http2: boolean): string[] {
  return http2 ? ['h2', 'http/1.1'] : ['http/1.1'];
}

export interface LoadedCertificate {
  /** Lower-case DNS names from the certificate; wildcards as `*.example.com`. */
  readonly names: readonly string[];
  /** What `https.Server#setSecureContext` takes, for clients that send no SNI. */
  readonly options: SecureContextOptions;
  readonly context: SecureContext;
}

export class CertificateStore {
  readonly certificates: readonly LoadedCertificate[];
  readonly #exact = new Map<string, SecureContext>();
  /** `.example.com` for `*.example.com`. */
  readonly #wildcard = new Map<string, SecureContext>();
  readonly #default: SecureContext;

  /**
   * Reads and checks every file; throws VF_ERR_CONFIG_INVALID naming the config path and file of
   * each problem, so a reload with a bad certificate is refused and the running one keeps serving.
   */
  static load(files: readonly CertificateFiles[], configPath = 'server.https.certificates'): CertificateStore {
    const problems: string[] = [];
    const loaded: LoadedCertificate[] = [];
    files.forEach((entry, i) => {
      try {
        loaded.push(loadCertificate(entry, `${configPath}[${i}]`));
      } catch (err) {
        problems.push((err as Error).message);
      }
    });
    if (problems.length > 0) throw new VelofluxError('VF_ERR_CONFIG_INVALID', problems.join('; '));
    if (loaded.length === 0) throw new VelofluxError('VF_ERR_CONFIG_INVALID', `${configPath}: HTTPS needs at least one certificate`);
    return new CertificateStore(loaded);
  }

  constructor(certificates: readonly LoadedCertificate[]) {
    this.certificates = certificates;
    this.#default = certificates[0]!.context;
    // The first certificate that names a host wins, as the default does: config order decides.
    for (const cert of certificates) {
      for (const name of cert.names) {
        const map = name.startsWith('*.') ? this.#wildcard : this.#exact;
        const key = name.startsWith('*.') ? name.slice(1) : name;
        if (!map.has(key)) map.set(key, cert.context);
      }
    }
  }

  /** Options for the listener's own (no-SNI) context: the first certificate. */
  get defaultOptions(): SecureContextOptions {
    return this.certificates[0]!.options;
  }

  /**
   * The context for an SNI name: an exact name first, then a wildcard covering exactly one more
   * label (RFC 6125 §6.4.3: `*.example.com` covers `a.example.com`, not `a.b.example.com`).
   */
  select(servername: string): SecureContext {
    let name = servername.toLowerCase();
    if (name.endsWith('.')) name = name.slice(0, -1);
    const exact = this.#exact.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    if (dot > 0) {
      const wildcard = this.#wildcard.get(name.slice(dot));
      if (wildcard !== undefined) return wildcard;
    }
    return this.#default;
  }
}

function loadCertificate(entry: CertificateFiles, path: string): LoadedCertificate {
  const certPem = readPem(entry.cert, `${path}.cert`);
  const keyPem = readPem(entry.key, `${path}.key`);
  let x509: X509Certificate;
  try {
    // The first PEM block is the leaf; intermediates may follow it in the same file.
    x509 = new X509Certificate(certPem);
  } catch (err) {
    throw new VelofluxError('VF_ERR_CONFIG_INVALID', `${path}.cert: "${entry.cert}" is not a PEM certificate (${(err as Error).message})`);
  }
  let matches: boolean;
  try {
    matches = x509.checkPrivateKey(createPrivateKey(keyPem));
  } catch (err) {
    throw new VelofluxError('VF_ERR_CONFIG_INVALID', `${path}.key: "${entry.key}" is not an unencrypted PEM private key (${(err as Error).message})`);
  }
  if (!matches) throw new VelofluxError('VF_ERR_CONFIG_INVALID', `${path}.key: "${entry.key}" does not match the certificate ${entry.cert}`);
  const names = namesOf(x509);
  const options: SecureContextOptions = { cert: certPem, key: keyPem, minVersion: MIN_TLS_VERSION };
  let context: SecureContext;
  try {
    context = createSecureContext(options);
  } catch (err) {
    throw new VelofluxError('VF_ERR_CONFIG_INVALID', `${path}: cannot use "${entry.cert}" with "${entry.key}" (${(err as Error).message})`);
  }
  return { names, options, context };
}

function readPem(file: string, path: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new VelofluxError('VF_ERR_CONFIG_INVALID', `${path}: cannot read "${file}": ${code ?? (err as Error).message}`);
  }
}

/**
 * DNS names a certificate is valid for: its DNS subjectAltNames, or its subject CN when it has
 * none (RFC 6125 §6.4.4 lets a client fall back to the CN only then).
 */
export function namesOf(x509: X509Certificate): string[] {
  const names: string[] = [];
  for (const entry of splitSubjectAltName(x509.subjectAltName ?? '')) {
    if (entry.startsWith('DNS:')) names.push(unquote(entry.slice(4)).toLowerCase());
  }
  if (names.length > 0) return names;
  for (const line of (x509.subject ?? '').split('\n')) {
    if (line.startsWith('CN=')) names.push(unquote(line.slice(3)).toLowerCase());
  }
  return names;
}

/** `DNS:a, DNS:"b, c"`: node quotes values that contain separators (CVE-2021-44532). */
function splitSubjectAltName(text: string): string[] {
  const entries: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') quoted = !quoted;
    else if (c === '\\' && quoted) i++;
    else if (c === ',' && !quoted) {
      entries.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  if (start < text.length) entries.push(text.slice(start).trim());
  return entries;
}

function unquote(value: string): string {
  if (!value.startsWith('"')) return value;
  try {
    return JSON.parse(value) as string;
  } catch {
    return value.slice(1, -1);
  }
}
