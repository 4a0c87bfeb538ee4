/**
 * `routes[].security` / `security` (issue 17): the security filter as a request stage, compiled
 * per route and snapshot. Address lists first (a denied address is refused on every route, an
 * allowed one skips the rules), then the rule engine on the head; a body of a format the engine
 * reads (urlencoded, JSON, multipart) is inspected up to inspectBodyBytes before the request
 * goes upstream (body-inspection.ts), so in block mode an attack never reaches the backend.
 *
 * block: an attack is answered 403 VF_ERR_SECURITY_BLOCKED with X-Request-Id and nothing else
 * (the rule details are for the operator, in the event). detect: it is forwarded and recorded.
 * A failure of the filter itself fails closed in block mode and open in detect mode, counted
 * either way. A body longer than inspectBodyBytes is forwarded with the rest uninspected
 * (`bodyOverflow: forward`, the default) or refused with 413 (`reject`).
 */
import { randomUUID } from 'node:crypto';
import type { RouteConfig } from '../../../shared/config/schema.js';
import type { ErrorCode } from '../../../shared/errors.js';
import type { Exchange } from '../exchange.js';
import { BodyInspection, type BodyVerdictOwner } from '../../security/body-inspection.js';
import { inspectBody } from '../../security/body-fields.js';
import { bodyFormatOf, parseContentType, type BodyFormat } from '../../security/content-type.js';
import type { HeldBody } from '../../security/held-body.js';
import type { IpLists } from '../../security/ip-lists.js';
import type { LiveIpLists } from '../../security/live-ip-lists.js';
import { RuleEngine } from '../../security/rule-engine.js';
import { CleanHeaders } from '../../security/clean-headers.js';
import type { RouteSecuritySettings } from '../../security/security-policy.js';
import type { SecurityTransaction } from '../../security/transaction.js';
import { IP_LIST_CATEGORY } from '../../../shared/security-events.js';
import type { RequestStage } from './request-stage.js';
import type { CounterSeries } from '../../../shared/metrics-report.js';
import type { RequestMetrics } from '../../telemetry/request-metrics.js';
import type { StageContext } from './pipeline.js';

const NO_MATCHES: readonly never[] = Object.freeze([]);
const IP_LIST_CATEGORIES = Object.freeze([IP_LIST_CATEGORY] as const);

export class SecurityStage implements RequestStage, BodyVerdictOwner {
  readonly #settings: RouteSecuritySettings;
  readonly #ipLists: IpLists;
  readonly #liveIpLists: LiveIpLists | undefined;
  /** The route's tenant, for events (null: a platform route). */
  readonly #tenant: string | null;
  /** Undefined in mode off (only the address lists apply). */
  readonly #engine: RuleEngine | undefined;
  /** Head-only requests are inspected synchronously: one transaction per route serves them all. */
  readonly #scratch: SecurityTransaction | undefined;
  /** Per keep-alive connection: header values already found clean by this route's engine (clean-headers.ts). */
  readonly #clean = new WeakMap<object, CleanHeaders>();
  /** `veloflux_security_inspected_requests_total` for this route and mode, in the worker's metrics it came from. */
  #inspected: { readonly of: RequestMetrics; readonly series: CounterSeries } | undefined;

  constructor(settings: RouteSecuritySettings, ipLists: IpLists, tenant: string | null = null, liveIpLists?: LiveIpLists) {
    this.#settings = settings;
    this.#ipLists = ipLists;
    this.#liveIpLists = liveIpLists;
    this.#tenant = tenant;
    this.#engine = settings.mode === 'off' ? undefined : new RuleEngine(settings);
    this.#scratch = this.#engine?.transaction();
  }

  static for(route: RouteConfig, context: StageContext): RequestStage | undefined {
    const settings = context.security.settingsFor(route);
    // Without rules or configured lists, the stage is only in the route's guardedStages (route-table.ts).
    if (settings.mode === 'off' && context.security.ipLists.empty && context.withLiveIpLists !== true) return undefined;
    return new SecurityStage(settings, context.security.ipLists, route.tenant ?? null, context.security.liveIpLists);
  }

  admit(exchange: Exchange): boolean {
    const live = this.#liveIpLists?.current;
    const engine = this.#engine;
    if (engine === undefined && this.#ipLists.empty && (live === undefined || live.empty)) return true;
    const client = exchange.clientAddress;
    if (this.#ipLists.allows(client) || (live !== undefined && live.allows(client))) return true;
    if (this.#ipLists.denies(client) || (live !== undefined && live.denies(client))) {
      exchange.telemetry.requests.count('securityEvents', IP_LIST_CATEGORY, 'blocked');
      this.#recordDenied(exchange);
      return this.#refuse(exchange, 'VF_ERR_SECURITY_BLOCKED');
    }
    if (engine === undefined) return true;
    const { mode } = this.#settings;
    const metrics = exchange.telemetry.requests;
    if (this.#inspected?.of !== metrics) this.#inspected = { of: metrics, series: metrics.series('securityInspected', exchange.routeLabel, mode) };
    this.#inspected.series.value++;
    try {
      const req = exchange.request;
      const format = exchange.contentLength !== 0 && this.#settings.inspectBodyBytes > 0 ? this.#bodyFormat(req.headers['content-type']) : undefined;
      const tx = format === undefined ? this.#scratch! : engine.transaction();
      const socket = req.socket;
      let clean = this.#clean.get(socket);
      if (clean === undefined) this.#clean.set(socket, (clean = new CleanHeaders()));
      engine.inspectHead(tx, req.method!, exchange.path, req.rawHeaders, exchange.contentLength !== 0, clean);
      if (format === undefined || engine.isAttack(tx)) return this.#conclude(exchange, tx);
      if (exchange.contentLength > this.#settings.inspectBodyBytes && this.#settings.bodyOverflow === 'reject') {
        exchange.telemetry.requests.count('securityUninspectedBodies', exchange.routeLabel, 'rejected');
        return this.#refuse(exchange, 'VF_ERR_BODY_TOO_LARGE');
      }
      exchange.bodyCheck = new BodyInspection(this, tx, format.format, format.boundary, this.#settings.inspectBodyBytes);
      return true;
    } catch (err) {
      return this.#failed(exchange, err);
    }
  }

  // BodyVerdictOwner.

  inspectBodyText(tx: SecurityTransaction, format: BodyFormat, boundary: string | undefined, text: string): void {
    inspectBody(this.#engine!, tx, format, boundary, text);
  }

  concludeBody(exchange: Exchange, tx: SecurityTransaction, overflowed: boolean, body: HeldBody, failure: unknown): void {
    const counters = exchange.telemetry.requests;
    if (failure !== undefined) {
      counters.count('securityFilterErrors', exchange.routeLabel, this.#settings.mode === 'block' ? 'fail_closed' : 'fail_open');
      if (this.#settings.mode === 'block') return exchange.refuseBody('VF_ERR_SECURITY_BLOCKED', this.#requestIdHeader(exchange));
      return exchange.forwardBody(body);
    }
    if (this.#engine!.isAttack(tx)) {
      const blocked = this.#settings.mode === 'block';
      this.#record(exchange, tx, blocked);
      if (blocked) return exchange.refuseBody('VF_ERR_SECURITY_BLOCKED', this.#requestIdHeader(exchange));
    }
    if (overflowed) {
      // Chunked bodies learn their length only here; a declared one was refused before reading.
      const reject = this.#settings.bodyOverflow === 'reject';
      counters.count('securityUninspectedBodies', exchange.routeLabel, reject ? 'rejected' : 'forwarded');
      if (reject) return exchange.refuseBody('VF_ERR_BODY_TOO_LARGE');
    }
    exchange.forwardBody(body);
  }

  #bodyFormat(contentType: string | undefined): { format: BodyFormat; boundary: string | undefined } | undefined {
    if (contentType === undefined) return undefined;
    const type = parseContentType(contentType);
    const format = type === undefined ? undefined : bodyFormatOf(type);
    return format === undefined ? undefined : { format, boundary: type!.boundary };
  }

  /** The verdict on a request inspected without its body. */
  #conclude(exchange: Exchange, tx: SecurityTransaction): boolean {
    if (!this.#engine!.isAttack(tx)) return true;
    const blocked = this.#settings.mode === 'block';
    this.#record(exchange, tx, blocked);
    return blocked ? this.#refuse(exchange, 'VF_ERR_SECURITY_BLOCKED') : true;
  }

  #failed(exchange: Exchange, _err: unknown): boolean {
    const closed = this.#settings.mode === 'block';
    exchange.telemetry.requests.count('securityFilterErrors', exchange.routeLabel, closed ? 'fail_closed' : 'fail_open');
    return closed ? this.#refuse(exchange, 'VF_ERR_SECURITY_BLOCKED') : true;
  }

  #record(exchange: Exchange, tx: SecurityTransaction, blocked: boolean): void {
    const action = blocked ? 'blocked' : 'detected';
    const categories = tx.categoryNames();
    for (const category of categories) exchange.telemetry.requests.count('securityEvents', category, action);
    exchange.telemetry.securityEvents.record({
      ts: Date.now(),
      requestId: this.#requestId(exchange),
      action,
      route: exchange.routeLabel,
      tenant: this.#tenant,
      client: exchange.clientAddress,
      method: exchange.request.method ?? '',
      path: tx.path,
      score: tx.score,
      categories,
      matches: tx.matches.slice(),
    });
  }

  /** A refusal by the deny list: an event with no rule, so operators see who was turned away. */
  #recordDenied(exchange: Exchange): void {
    const path = exchange.path;
    const queryAt = path.indexOf('?');
    exchange.telemetry.securityEvents.record({
      ts: Date.now(),
      requestId: this.#requestId(exchange),
      action: 'blocked',
      route: exchange.routeLabel,
      tenant: this.#tenant,
      client: exchange.clientAddress,
      method: exchange.request.method ?? '',
      path: queryAt === -1 ? path : path.slice(0, queryAt),
      score: 0,
      categories: IP_LIST_CATEGORIES,
      matches: NO_MATCHES,
    });
  }

  #refuse(exchange: Exchange, code: ErrorCode): false {
    exchange.refuse(code, code === 'VF_ERR_SECURITY_BLOCKED' ? this.#requestIdHeader(exchange) : undefined);
    return false;
  }

  #requestIdHeader(exchange: Exchange): string[] {
    return ['x-request-id', this.#requestId(exchange)];
  }

  /** The id the request is forwarded with (proxy-handler.ts keeps one set here), so an event and the backend's logs agree. */
  #requestId(exchange: Exchange): string {
    return (exchange.requestId ||= (exchange.peerTrusted ? exchange.incomingRequestId : undefined) ?? randomUUID());
  }
}
