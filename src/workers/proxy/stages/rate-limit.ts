/**
 * `routes[].rateLimit`: the named policy's limiter takes one token per request (upgrades
 * included), keyed after the client address is known; over the limit the answer is 429
 * (RFC 6585 §4) with Retry-After and the RateLimit-* headers. Counted under the route and pool
 * (operators want to see which route is limited) and in the rate-limited counter by policy.
 */
import type { RouteConfig } from '../../../shared/config/schema.js';
import type { RateLimiter } from '../../rate-limit/rate-limiter.js';
import type { Exchange } from '../exchange.js';
import type { RequestStage } from './request-stage.js';
import type { StageContext } from './pipeline.js';

export class RateLimitStage implements RequestStage {
  readonly #limiter: RateLimiter;

  constructor(limiter: RateLimiter) {
    this.#limiter = limiter;
  }

  static for(route: RouteConfig, context: StageContext): RequestStage | undefined {
    const limiter = route.rateLimit === undefined ? undefined : context.rateLimiters.get(route.rateLimit);
    return limiter === undefined ? undefined : new RateLimitStage(limiter);
  }

  admit(exchange: Exchange): boolean {
    const limiter = this.#limiter;
    const key = limiter.key.of(exchange.clientAddress, exchange.request.rawHeaders, exchange.routeLabel);
    const now = performance.now();
    if (limiter.take(key, now)) return true;
    exchange.telemetry.requests.count('rateLimited', exchange.routeLabel, limiter.name);
    exchange.refuse('VF_ERR_RATE_LIMITED', limiter.refusalHeaders(key, now));
    return false;
  }
}
