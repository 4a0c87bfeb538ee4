/**
 * A backend's origin as both upstream clients (HTTP/1.1 and h2) dial it: host and port, the
 * address guard of a tenant's backend, and the TLS options. The name verified is the backend's
 * own (or pools[].tls.servername), never the client's Host header: a proxy forwards its client's
 * Host, and that must not choose what is trusted.
 */
import { isIP, type LookupFunction } from 'node:net';
import { AddressGuard } from './address-guard.js';
import type { UpstreamPoolOptions } from './upstream-pool.js';

export interface UpstreamOrigin {
  /** `scheme://host:port` as the URL normalises it. */
  readonly origin: string;
  readonly https: boolean;
  /** Without IPv6 brackets: what to connect to. */
  readonly host: string;
  readonly port: number;
  /** `host:port` as written in the URL: the Host (or :authority) sent upstream. */
  readonly authority: string;
  /** Present for a tenant's backend: every connection is held to its address policy. */
  readonly guard: AddressGuard | undefined;
  /** `lookup` of the guard, when there is one, to spread into connect options. */
  readonly lookup: { lookup: LookupFunction } | Record<string, never>;
  /** TLS options for an https origin, to spread into connect options. */
  readonly tls: { tls: UpstreamPoolOptions['tls'] } | Record<string, never>;
}

export function upstreamOrigin(origin: string, options: Pick<UpstreamPoolOptions, 'addressPolicy' | 'tls'>): UpstreamOrigin {
  const url = new URL(origin);
  const https = url.protocol === 'https:';
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === '' ? (https ? 443 : 80) : Number(url.port);
  const guard = options.addressPolicy === undefined ? undefined : new AddressGuard(options.addressPolicy, host, port);
  return {
    origin: url.origin,
    https,
    host,
    port,
    authority: url.host,
    guard,
    lookup: guard === undefined ? {} : { lookup: guard.lookup },
    tls: https ? { tls: { ...options.tls, servername: options.tls.servername ?? (isIP(host) === 0 ? host : undefined) } } : {},
  };
}
