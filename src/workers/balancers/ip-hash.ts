import type { Backend } from '../backend.js';
import type { Balancer, PickContext } from './balancer.js';
import { HashRing } from './hash-ring.js';
import { murmur3String } from './string-hash.js';

/**
 * Client affinity by address: the client address is hashed onto a consistent hash ring, so a
 * client keeps its backend across requests, workers and config reloads, and a backend going down
 * moves only its own clients. The whole address is hashed (nginx's `ip_hash` uses only the first
 * three IPv4 octets, which piles whole NATed /24s onto one backend).
 */
export class IpHashBalancer implements Balancer {
  readonly #ring: HashRing;

  constructor(backends: readonly Backend[]) {
    this.#ring = new HashRing(backends);
  }

  pick(ctx: PickContext, exclude?: readonly Backend[]): Backend | undefined {
    return this.#ring.lookup(murmur3String(ctx.clientAddress), exclude);
  }

  onStart(_backend: Backend): void {}

  onEnd(_backend: Backend): void {}

  setHealthy(backend: Backend, healthy: boolean): void {
    this.#ring.setHealthy(backend, healthy);
  }

  setWeight(backend: Backend, weight: number): void {
    this.#ring.setWeight(backend, weight);
  }
}
