/**
 * Everything a worker serves from a snapshot: the data plane on server.http (and server.https),
 * and the main API on server.api. It builds runtimes (SnapshotHost decides when), starts the
 * listeners with the first, swaps later ones in, and drains on shutdown.
 */
import type { Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { workerMessage, type ConfigSnapshot, type WorkerMessage } from '../shared/ipc.js';
import type { Logger } from '../shared/log.js';
import { listenErrorMessage } from '../shared/listen-errors.js';
import type { DeadlineWheel } from './deadline-wheel.js';
import type { HostedServer } from './host.js';
import { createHttpEngine, createHttpsEngine } from './proxy/http-engine.js';
import { ProxyHandler } from './proxy/proxy-handler.js';
import { Http2Engine } from './proxy/http2-engine.js';
import type { ListenerPorts } from './proxy/stages/redirect-https.js';
import { Runtime } from './runtime/runtime.js';
import type { BackendRegistry } from './runtime/backend-registry.js';
import { CertificateStore } from './runtime/tls-certificates.js';
import type { RateLimitRegistry } from './rate-limit/rate-limit-registry.js';
import type { Telemetry } from './telemetry/telemetry.js';
import { StatsReporter } from './telemetry/stats-reporter.js';
import { SecurityEventShipper } from './primary-link/security-event-shipper.js';
import type { LiveIpLists } from './security/live-ip-lists.js';
import { createApiServer, type ApiServer } from './api/api-server.js';
import type { ApiDependencies } from './api/api-context.js';
import type { TenantStandings } from './tenancy/tenant-standings.js';

/**
 * What one snapshot gives the data plane. Certificates are re-read from disk for every snapshot
 * (every reload, PUT or backend change), so renewed files are picked up without a restart, and a
 * missing or broken file fails the build: the change is refused everywhere and the running
 * certificates keep serving.
 */
export interface BuiltSnapshot {
  readonly version: number;
  readonly runtime: Runtime;
  readonly certificates: CertificateStore | undefined;
}

/** What outlives snapshots in this worker. */
export interface WorkerParts {
  readonly registry: BackendRegistry;
  readonly rateLimits: RateLimitRegistry;
  /** Each tenant's status, plan and quota, from the state replica (the tenant stage reads it). */
  readonly tenants: TenantStandings;
  /** The address lists edited through the APIs, from the state replica (the security stage reads them). */
  readonly liveIpLists: LiveIpLists;
  /** Active health check results from the primary, by backend id; every runtime starts from them. */
  readonly health: ReadonlyMap<string, boolean>;
  readonly wheel: DeadlineWheel;
  readonly telemetry: Telemetry;
  /** The main API's collaborators other than its config (state replica, primary RPC, feed). */
  readonly api: Omit<ApiDependencies, 'config' | 'secrets' | 'log'>;
  readonly log: Logger;
  send(message: WorkerMessage): void;
  exit(code: number): void;
}

/** In round-robin scheduling the primary may hand over a connection as the listener closes: stay alive briefly to refuse it. */
const EXIT_GRACE_MS = 500;

export class WorkerServer implements HostedServer<BuiltSnapshot> {
  readonly #parts: WorkerParts;
  /** Where `redirectHttps` sends plain-HTTP clients: the bound HTTPS port once known. */
  readonly #ports: ListenerPorts = { https: 443 };
  #handler: ProxyHandler | undefined;
  #http: Server | undefined;
  #https: HttpsServer | undefined;
  /** HTTP/2 on the HTTPS listener, when enabled. */
  #http2: Http2Engine | undefined;
  #api: ApiServer | undefined;
  #securityEvents: SecurityEventShipper | undefined;
  /** The certificates new TLS handshakes get; replaced whole when a snapshot is swapped in. */
  #certificates: CertificateStore | undefined;
  #shuttingDown = false;

  constructor(parts: WorkerParts) {
    this.#parts = parts;
  }

  /** The runtime serving now (undefined before the first snapshot). */
  get runtime(): Runtime | undefined {
    return this.#handler?.runtime;
  }

  build(snapshot: ConfigSnapshot): BuiltSnapshot {
    const { https } = snapshot.config.server;
    const { registry, health, rateLimits, tenants, liveIpLists } = this.#parts;
    return {
      version: snapshot.version,
      certificates: https === undefined ? undefined : CertificateStore.load(https.certificates),
      runtime: new Runtime(snapshot, { registry, health, rateLimits, tenants, liveIpLists, ports: this.#ports, reportOutlier: this.#reportOutlier }),
    };
  }

  /** Observations flow up on their own message; the primary decides whether to eject. */
  readonly #reportOutlier = (backendId: string, consecutiveFailures: number): void => {
    this.#parts.send(workerMessage({ type: 'outlier', backendId, consecutiveFailures }));
  };

  serve(snapshot: ConfigSnapshot, built: BuiltSnapshot): void {
    const { server: settings } = snapshot.config;
    const { http, https } = settings;
    const { telemetry, wheel, rateLimits, send } = this.#parts;
    built.runtime.activate(this.#parts.registry);
    telemetry.accessLog.configure(settings.accessLog);
    const handler = (this.#handler = new ProxyHandler(built.runtime, { wheel, telemetry }));
    const httpServer = (this.#http = createHttpEngine(settings, handler.handle, handler.handleUpgrade));
    this.#exitOnListenError(httpServer, 'server.http.port', http.port, 'VELOFLUX_HTTP_PORT');
    new StatsReporter(httpServer, handler, telemetry, (stats) => send(workerMessage({ type: 'stats', stats })));
    rateLimits.start(settings.workers as number, (usage) => send(workerMessage({ type: 'rate-usage', usage })));
    (this.#securityEvents = new SecurityEventShipper(telemetry.securityEvents, send)).start();
    const listening = [listen(httpServer, http.port, http.host)];
    if (https !== undefined && built.certificates !== undefined) {
      this.#certificates = built.certificates;
      // The configured port until the bound one is known (they differ only for port 0).
      this.#ports.https = https.port;
      const httpsServer = (this.#https = createHttpsEngine(settings, () => this.#certificates!, handler.handle, handler.handleUpgrade));
      if (https.http2.enabled) {
        this.#http2 = new Http2Engine(settings, https.http2, handler.handleStream, wheel, telemetry);
        this.#http2.serve(httpsServer);
      }
      this.#exitOnListenError(httpsServer, 'server.https.port', https.port, 'server.https.port');
      listening.push(listen(httpsServer, https.port, https.host));
    }
    void Promise.all([Promise.all(listening), this.#startApi(snapshot)]).then(([[httpPort, httpsPort], apiPort]) => {
      if (httpsPort !== undefined) this.#ports.https = httpsPort;
      send(workerMessage({ type: 'ready', configVersion: snapshot.version, httpPort: httpPort!, apiPort, ...(httpsPort !== undefined ? { httpsPort } : {}) }));
    });
  }

  swapIn(built: BuiltSnapshot): void {
    const { runtime } = built;
    // Results that arrived while this runtime waited for its commit.
    runtime.applyHealth(this.#parts.health);
    this.#handler!.swap(runtime);
    if (built.certificates !== undefined && this.#https !== undefined) {
      this.#certificates = built.certificates;
      // Clients without SNI get the listener's own context; SNI handshakes read `#certificates`.
      this.#https.setSecureContext(built.certificates.defaultOptions);
    }
    runtime.activate(this.#parts.registry);
  }

  /** The main API (static settings: built once per worker; routes read the runtime in force). */
  async #startApi(snapshot: ConfigSnapshot): Promise<number> {
    const { api: settings } = snapshot.config.server;
    const { api, log } = this.#parts;
    const started = await createApiServer({ ...api, config: () => this.#handler!.runtime.config, secrets: snapshot.apiSecrets, log });
    this.#api = started;
    this.#exitOnListenError(started.app.server, 'server.api.port', settings.port, 'VELOFLUX_API_PORT');
    return listen(started.app.server, settings.port, settings.host);
  }

  #exitOnListenError(engine: Server | HttpsServer, configPath: string, port: number, envName: string): void {
    engine.once('error', (err: Error & { code?: string }) => {
      this.#parts.send(workerMessage({ type: 'fatal', code: err.code ?? 'UNKNOWN', message: listenErrorMessage(err, configPath, port, envName) }));
      this.#parts.exit(1);
    });
  }

  /**
   * Stops accepting, lets responses in flight finish (idle keep-alive connections close now,
   * busy ones after their response), cuts what is left at `deadlineMs`, then calls `done`.
   */
  shutdown(deadlineMs: number, done: () => void): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    this.#handler?.drain();
    this.#parts.rateLimits.stop();
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      void this.#parts.registry.closeAll().finally(() => {
        this.#parts.telemetry.accessLog.flush();
        this.#securityEvents?.stop();
        done();
        setTimeout(() => this.#parts.exit(0), EXIT_GRACE_MS);
      });
    };
    // Stream clients would hold the API listener open: tell them to go (1001) now.
    this.#api?.close();
    // h2 clients get GOAWAY: their open streams finish, new ones go elsewhere.
    this.#http2?.drain();
    const engines = [this.#http, this.#https, this.#api?.app.server].filter((engine) => engine !== undefined);
    if (engines.length === 0) return finish();
    let open = engines.length;
    for (const engine of engines) {
      engine.close(() => --open === 0 && finish());
      engine.closeIdleConnections();
    }
    setTimeout(() => {
      this.#parts.log.warn({ deadlineMs }, 'shutdown deadline passed; closing remaining connections');
      for (const engine of engines) engine.closeAllConnections();
      this.#http2?.closeAll();
      finish();
    }, deadlineMs).unref();
  }
}

function listen(engine: Server | HttpsServer, port: number, host: string): Promise<number> {
  return new Promise((resolve) => engine.listen({ port, host }, () => resolve((engine.address() as AddressInfo).port)));
}
