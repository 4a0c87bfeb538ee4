/**
 * A stage that must read the start of a request body before the request may go upstream (the
 * security filter in block mode: an attack in a JSON body must never reach the backend). The
 * exchange hands itself over once started (its deadline already runs, so a client that drips its
 * body is cut off by the request timeout); the check ends with `exchange.forwardBody(body)`
 * (a stream that replays what it read, then the rest) or `exchange.refuseBody(code)`.
 */
import type { Exchange } from './exchange.js';

export interface BodyCheck {
  check(exchange: Exchange): void;
}
