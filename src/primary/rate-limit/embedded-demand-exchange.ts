/** Embedded mode: this instance is the only one, so it holds every key's whole rate. */
import type { DemandExchange, InstanceShares, KeyDemand } from './demand-exchange.js';

export class EmbeddedDemandExchange implements DemandExchange {
  async exchange(demands: readonly KeyDemand[]): Promise<InstanceShares> {
    return { shares: demands.map(() => 1), instances: 1 };
  }

  async close(): Promise<void> {}
}
