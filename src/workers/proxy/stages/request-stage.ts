/**
 * One step of a route's request pipeline, between routing and the upstream attempt:
 *
 *   head checks -> route -> [redirect] -> [security] -> [tenant/quota] -> [rate limit] -> pick -> upstream
 *
 * The bracketed steps are stages. Which ones a route has is decided once per snapshot
 * (pipeline.ts), so a route without a feature pays nothing for it, and a new feature is one
 * stage file plus one line in the pipeline's list.
 */
import type { Exchange } from '../exchange.js';

export interface RequestStage {
  /** Lets the request on (true), or answers it itself, e.g. with `exchange.refuse` (false). */
  admit(exchange: Exchange): boolean;
}
