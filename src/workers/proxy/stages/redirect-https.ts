/**
 * `routes[].redirectHttps`: a request that did not arrive over TLS gets a 308 to the HTTPS
 * listener instead of being proxied. 308 (RFC 9110 §15.4.9) keeps the method and body, unlike
 * 301; the upstream is never contacted.
 */
import type { RouteConfig } from '../../../shared/config/schema.js';
import type { Exchange } from '../exchange.js';
import { answerAndLinger } from '../error-response.js';
import type { RequestStage } from './request-stage.js';
import type { StageContext } from './pipeline.js';

/** The worker's bound ports, filled in once its listeners are up (the configured ones until then). */
export interface ListenerPorts {
  https: number;
}

export class RedirectHttpsStage implements RequestStage {
  readonly #ports: ListenerPorts;

  constructor(ports: ListenerPorts) {
    this.#ports = ports;
  }

  static for(route: RouteConfig, context: StageContext): RequestStage | undefined {
    return route.redirectHttps ? new RedirectHttpsStage(context.ports) : undefined;
  }

  admit(exchange: Exchange): boolean {
    if (exchange.arrivedOverTls) return true;
    // The host was validated as uri-host; without one there is nowhere to send the client.
    if (exchange.host === '') {
      exchange.refuse('VF_ERR_BAD_REQUEST');
      return false;
    }
    const port = this.#ports.https === 443 ? '' : `:${this.#ports.https}`;
    const location = `https://${exchange.host}${port}${exchange.path}`;
    const res = exchange.response;
    if (!res.req.complete && res.socket !== null) {
      // The client is still sending a body it will repeat on HTTPS: answer on the socket and
      // discard the rest (lingering close), or the client's next write would draw a reset that
      // loses the answer.
      res.req.resume();
      answerAndLinger(res.socket, `HTTP/1.1 308 Permanent Redirect\r\nlocation: ${location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
      return false;
    }
    const headers: Record<string, string | number> = { location, 'content-length': 0 };
    if (exchange.closeAfterResponse) headers.connection = 'close';
    res.writeHead(308, headers);
    res.end();
    return false;
  }
}
