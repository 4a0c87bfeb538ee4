/**
 * Whose X-Forwarded-For the main API believes: fastify's trustProxy, which (as proxy-addr) takes
 * the client to be the rightmost address of the chain that is not trusted, so a client can put
 * anything on the left of X-Forwarded-For without being believed.
 *
 * Loopback peers are trusted by default (server.api.trustLoopback): in the default layout
 * (veloflux.yaml, DESIGN.md §2) every request reaches the API through VeloFlux's own data plane
 * on this host, which replaces X-Forwarded-For with the peer's address unless the peer is one of
 * server.trustedProxies (proxy-handler.ts, addForwardingHeaders). Without this, every client
 * would be 127.0.0.1 to the API, and one client's bad logins would lock out everyone (issue 14).
 * A peer on any other address is believed only if it is in server.trustedProxies.
 */
import type { ServerConfig } from '../../shared/config/schema.js';

export const LOOPBACK_NETWORKS = ['127.0.0.0/8', '::1/128'] as const;

/** fastify's trustProxy for the main API: the networks whose X-Forwarded-For is believed, or false. */
export function apiTrustProxy(server: Pick<ServerConfig, 'trustedProxies'> & { readonly api: Pick<ServerConfig['api'], 'trustLoopback'> }): string[] | false {
  const trusted = [...(server.api.trustLoopback ? LOOPBACK_NETWORKS : []), ...server.trustedProxies];
  return trusted.length > 0 ? trusted : false;
}
