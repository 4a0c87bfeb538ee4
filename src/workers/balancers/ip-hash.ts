import type { PickContext } from './balancer.js';
import { HashRingBalancer } from './hash-ring-balancer.js';
import { murmur3String } from './string-hash.js';

/**
 * Client affinity by address: the client address is hashed onto a consistent hash ring, so a
 * client keeps its backend across requests, workers and config reloads, and a backend going down
 * moves only its own clients. The whole address is hashed (nginx's `ip_hash` uses only the first
 * three IPv4 octets, which piles whole NATed /24s onto one backend).
 */
export class IpHashBalancer extends HashRingBalancer {
  protected keyHash(ctx: PickContext): number {
    return murmur3String(ctx.clientAddress);
  }
}
