/**
 * The backend address policy at add time (issue 14): a backend added through the main API to a
 * tenant's pool, or by a tenant user, is resolved and held to that tenant's policy before the
 * change is applied, and marked (`backends[].tenant`) so the workers hold every later connection
 * to it to the same policy. A platform admin's `allowUnsafeAddress` skips both, on the record.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { BackendAddressPolicy, configuredListenerPorts, normaliseHostname, type AddressRefusal } from '../../shared/backend-address-policy.js';
import type { VelofluxConfig } from '../../shared/config/schema.js';
import type { AddressCheckRequest } from '../../shared/rpc.js';
import { poolTenant, tenantOrigins } from '../../shared/config/tenant-ownership.js';
import type { AuditEntry } from '../audit-log.js';
import type { BackendInput } from './runtime-overlay.js';

export type { AddressCheckRequest };

/** What a backend's name resolved to (before the change is queued: DNS must not hold other changes up). */
export interface ResolvedBackend {
  readonly hostname: string;
  readonly port: number;
  readonly origin: string;
  /** Empty when the name did not resolve now: the workers check it when they connect. */
  readonly addresses: readonly string[];
}

export type AddressVerdict =
  | { readonly refusal: AddressRefusal; readonly audit: NonNullable<AuditEntry['addressPolicy']> }
  | { readonly refusal: undefined; readonly backend: BackendInput; readonly audit: AuditEntry['addressPolicy'] };

export class BackendAddressCheck {
  /** Ports bound as 0 ("any free port") are only known once listening: main.ts adds them. */
  readonly #boundPorts = new Set<number>();

  listening(port: number): void {
    this.#boundPorts.add(port);
  }

  /** Undefined for a URL that is not one: validation refuses it with its path. */
  async resolve(url: string): Promise<ResolvedBackend | undefined> {
    if (!URL.canParse(url)) return undefined;
    const parsed = new URL(url);
    const hostname = normaliseHostname(parsed.hostname);
    const port = parsed.port === '' ? (parsed.protocol === 'https:' ? 443 : 80) : Number(parsed.port);
    const addresses = isIP(hostname) !== 0 ? [hostname] : await lookup(hostname, { all: true, verbatim: true }).then((found) => found.map((a) => a.address), () => []);
    return { hostname, port, origin: parsed.origin, addresses };
  }

  /** Judges `backend` against the config in force; sync, so it runs inside the change queue. */
  judge(config: Readonly<VelofluxConfig>, pool: string, backend: BackendInput, resolved: ResolvedBackend | undefined, request: AddressCheckRequest): AddressVerdict {
    const tenant = request.requesterTenant ?? poolTenant(config, pool);
    if (request.allowUnsafeAddress) return { refusal: undefined, backend, audit: { tenant, outcome: 'overridden' } };
    if (tenant === null || resolved === undefined) return { refusal: undefined, backend, audit: undefined };
    const refusal = this.#refusal(config, tenant, resolved);
    if (refusal !== undefined) return { refusal, audit: { tenant, outcome: 'refused', rule: refusal.rule } };
    return { refusal: undefined, backend: { ...backend, tenant }, audit: { tenant, outcome: 'allowed' } };
  }

  #refusal(config: Readonly<VelofluxConfig>, tenant: string, { hostname, port, origin, addresses }: ResolvedBackend): AddressRefusal | undefined {
    const ports = new Set([...configuredListenerPorts(config.server), ...this.#boundPorts]);
    const policy = new BackendAddressPolicy(config.backendPolicy, tenant, ports);
    const byName = policy.refuseName(hostname);
    if (byName !== undefined) return byName;
    for (const address of addresses) {
      const refusal = policy.refuseAddress(address, port, hostname);
      if (refusal !== undefined) return refusal;
    }
    const others = [...(tenantOrigins(config).get(origin) ?? [])].filter((owner) => owner !== tenant);
    if (others.length > 0) return { rule: 'other-tenant', reason: `${origin} is the origin of another tenant's backend` };
    return undefined;
  }
}
