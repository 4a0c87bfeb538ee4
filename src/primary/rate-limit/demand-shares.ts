/**
 * How a share is split by demand, the one rule both levels use (workers of an instance here,
 * instances sharing Redis in the Lua script of redis-demand-exchange.ts): part i gets
 * (dᵢ + ε) / Σ (dⱼ + ε). The parts always add up to one, so the slices of a global bucket add up
 * to the configured rate whatever the demands are.
 *
 * ε keeps a part with no demand from getting exactly nothing (its first request can pass and show
 * up as demand) while costing the busy parts little: EPSILON_FRACTION of the mean demand, so an
 * idle part holds about 1% / n of the rate. With no demand anywhere the parts are equal.
 */
export const EPSILON_FRACTION = 0.01;
/** Keeps ε above zero when nobody has demand (then every part gets 1 / n). */
export const EPSILON_FLOOR = 1e-9;

/** The parts of `whole` for `demands` (each ≥ 0); empty for no parts. */
export function demandShares(demands: readonly number[], whole = 1): number[] {
  const n = demands.length;
  if (n === 0) return [];
  let sum = 0;
  for (const d of demands) sum += d > 0 ? d : 0;
  const epsilon = (EPSILON_FRACTION * sum) / n + EPSILON_FLOOR;
  const denominator = sum + n * epsilon;
  return demands.map((d) => (whole * ((d > 0 ? d : 0) + epsilon)) / denominator);
}
