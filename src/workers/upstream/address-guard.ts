/**
 * The backend address policy on every new connection to a tenant's backend (issue 14): the name
 * is resolved here, and a connection whose name resolves to a refused address is never opened,
 * so a backend that passed when it was added cannot be pointed somewhere else later by its DNS
 * (rebinding). Work per connection, never per request; backends without a tenant have no guard.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import type { BackendAddressPolicy } from '../../shared/backend-address-policy.js';
import { UpstreamError } from './upstream-call.js';

export class AddressGuard {
  readonly #policy: BackendAddressPolicy;
  readonly #hostname: string;
  readonly #port: number;

  constructor(policy: BackendAddressPolicy, hostname: string, port: number) {
    this.#policy = policy;
    this.#hostname = hostname;
    this.#port = port;
  }

  /** Identifies the rules, for the registry's pool key. */
  get key(): string {
    return this.#policy.key;
  }

  /**
   * For a backend named by its address, which connect() does not look up: the refusal, checked
   * when a connection is about to open (the policy may have changed since the backend was added).
   */
  refusalOfAddress(): UpstreamError | undefined {
    if (isIP(this.#hostname) === 0) return undefined;
    return this.#refusalOf(this.#hostname);
  }

  /** net/tls connect's `lookup` option: resolves as dns.lookup does, failing when any address is refused. */
  readonly lookup: LookupFunction = (hostname: string, options: LookupOptions, callback: Parameters<LookupFunction>[2]) => {
    const byName = this.#policy.refuseName(hostname);
    if (byName !== undefined) return callback(deniedError(hostname, byName) as NodeJS.ErrnoException, '', 0);
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err !== null) return callback(err, '', 0);
      // Any refused address refuses the name: a name that resolves to a public address and to
      // 127.0.0.1 is how rebinding attacks look.
      for (const { address } of addresses) {
        const refused = this.#refusalOf(address);
        if (refused !== undefined) return callback(refused as NodeJS.ErrnoException, '', 0);
      }
      if (options.all === true) return callback(null, addresses);
      const first = addresses[0];
      if (first === undefined) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      callback(null, first.address, first.family);
    });
  };

  #refusalOf(address: string): UpstreamError | undefined {
    const refusal = this.#policy.refuseAddress(address, this.#port, this.#hostname);
    return refusal === undefined ? undefined : deniedError(`${this.#hostname} (${address})`, refusal);
  }
}

function deniedError(what: string, refusal: { rule: string; reason: string }): UpstreamError {
  return new UpstreamError('UPSTREAM_ADDRESS_DENIED', `${what} refused by the backend address policy, rule "${refusal.rule}": ${refusal.reason}`);
}
