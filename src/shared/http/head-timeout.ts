/**
 * Node checks for request heads that are too slow only on a tick, `connectionsCheckingInterval`
 * (30 s by default), so with a 1 s head timeout a slow client could hold a connection for up to
 * 31 s. A quarter of the head timeout, within 250 ms..1 s: a slow head is cut at most 25% late.
 */
export function headerCheckInterval(clientHeaderMs: number): number {
  return Math.min(1000, Math.max(250, Math.floor(clientHeaderMs / 4)));
}
