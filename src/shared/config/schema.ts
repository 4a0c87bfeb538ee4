/**
 * The config contract (DESIGN.md §2): one zod schema from which the TypeScript types are derived
 * and in which every default is declared once. `server` is static (a change needs a restart);
 * `pools` and `routes` are dynamic (hot reload). Objects are strict: an unknown key is an error,
 * because a misspelt option that is silently ignored is worse than one that fails.
 */
import { z } from 'zod';
import { isIP } from 'node:net';
import { BALANCER_ALGORITHMS } from './algorithms.js';
import { duration, size } from './units.js';
import { billing } from './billing-schema.js';
import { SECURITY_CATEGORIES, SECURITY_RULE_IDS } from '../security-catalogue.js';

const port = z.number().int().min(0).max(65535);
const host = z.string().min(1);

const listener = (defaultPort: number, defaultHost: string) =>
  z.strictObject({ port: port.default(defaultPort), host: host.default(defaultHost) }).prefault({});

const cidr = z.string().refine(isCidr, { message: 'expected an IP address or CIDR like 10.0.0.0/8' });

/** An IP address or a CIDR block (`10.0.0.0/8`, `2001:db8::/32`). */
export function isCidr(text: string): boolean {
  const [address, bits, extra] = text.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d+$/.test(bits) && n <= (family === 4 ? 32 : 128);
}

/** Upstream timeouts; the server block sets defaults, a pool may override each. */
const upstreamTimeoutFields = {
  /** TCP connect to a backend. */
  connect: duration,
  /** From request sent to response headers received. */
  response: duration,
  /** Whole exchange, first byte in to last byte out: cuts off a backend that drips bytes. */
  request: duration,
  /** Idle upstream keep-alive sockets are closed after this; keep it below the backends' own. */
  upstreamKeepAlive: duration,
};

const serverTimeouts = z
  .strictObject({
    connect: upstreamTimeoutFields.connect.prefault('5s'),
    response: upstreamTimeoutFields.response.prefault('60s'),
    request: upstreamTimeoutFields.request.prefault('300s'),
    upstreamKeepAlive: upstreamTimeoutFields.upstreamKeepAlive.prefault('4s'),
    /** A client must send its whole request head within this (slowloris). */
    clientHeader: duration.prefault('10s'),
    /** Idle client keep-alive connections are closed after this. */
    clientKeepAlive: duration.prefault('5s'),
    /** SIGTERM/SIGINT: how long in-flight requests may take to finish before connections are cut. */
    shutdown: duration.prefault('30s'),
    /** A backend removed from the config keeps its in-flight requests this long, then its connections are closed. */
    drain: duration.prefault('30s'),
  })
  .prefault({});

const limits = z
  .strictObject({
    /** Request head (request line + headers) larger than this gets 431. */
    maxHeaderSize: size.default(16384),
    /**
     * Requests with more header fields than this get 431 (HAProxy's tune.http.maxhdr is 101,
     * Apache's LimitRequestFields 100): node would silently drop fields past its own cap, so the
     * duplicate-Host and framing checks could never see them.
     */
    maxHeaderCount: z.number().int().min(1).max(10_000).default(100),
    /** Request bodies larger than this get 413; 0 means no limit (bodies are streamed, never buffered). */
    maxBodySize: size.default(0),
  })
  .prefault({});

const redisNode = z.strictObject({ host: host, port: port.default(6379) });

/**
 * Shared state across VeloFlux instances (DESIGN.md §1). Exactly one of the three forms ioredis
 * supports: a single server (`url`), Sentinel (`sentinels` + `name`), or Redis Cluster (`cluster`).
 * Passwords belong in the URL (`redis://:secret@host`) or VELOFLUX_REDIS_URL, never in the repo.
 */
const redis = z
  .strictObject({
    url: z.string().regex(/^rediss?:\/\//, 'expected redis://host:port or rediss://host:port').refine((u) => URL.canParse(u), 'not a valid URL').optional(),
    sentinels: z.array(redisNode).min(1).optional(),
    /** The Sentinel master group name. */
    name: z.string().min(1).optional(),
    cluster: z.array(redisNode).min(1).optional(),
    /** Every key and channel starts with this, so several deployments can share one Redis. */
    keyPrefix: z.string().regex(/^[A-Za-z0-9._-]*:?$/, 'letters, digits, ".", "_", "-", optionally ending with ":"').default('veloflux:'),
    /** Bound on every Redis command; nothing waits on Redis longer than this. */
    commandTimeout: duration.prefault('500ms'),
  })
  .superRefine((r, ctx) => {
    const forms = [r.url, r.sentinels, r.cluster].filter((f) => f !== undefined).length;
    if (forms !== 1) ctx.addIssue({ code: 'custom', message: 'set exactly one of url, sentinels (with name) or cluster' });
    if (r.sentinels !== undefined && r.name === undefined) ctx.addIssue({ code: 'custom', path: ['name'], message: 'Sentinel needs the master group name' });
    if (r.sentinels === undefined && r.name !== undefined) ctx.addIssue({ code: 'custom', path: ['name'], message: 'only used with sentinels' });
  });

/** The main REST API and its streams (workers, DESIGN.md §2). Secrets come from env or files. */
const api = z
  .strictObject({
    port: port.default(9090),
    host: host.default('0.0.0.0'),
    /** File holding the access-token signing secret, at least 32 bytes (VELOFLUX_JWT_SECRET takes precedence). */
    jwtSecretFile: z.string().min(1).optional(),
    accessTokenTtl: duration.prefault('15m'),
    refreshTokenTtl: duration.prefault('7d'),
    issuer: z.string().min(1).default('veloflux'),
    audience: z.string().min(1).default('veloflux-api'),
    /** Who may create accounts through POST /api/auth/register. */
    registration: z.enum(['admin-only', 'invite', 'open']).default('admin-only'),
    /** Browser origins allowed besides the API's own (WebSocket streams, CORS), e.g. https://ops.example.com; "*" allows any. */
    allowedOrigins: z.array(z.string().regex(/^(\*|https?:\/\/[^/\s]+)$/, 'expected an origin like https://ops.example.com, or "*"')).default([]),
    /**
     * Host names the API answers to, without port (api.example.com, 127.0.0.1, [::1]): a DNS
     * rebinding defence. Unset (the default): any Host. Set: requests and stream upgrades with
     * another Host get 421 VF_ERR_HOST_NOT_ALLOWED, so list every name clients and probes use.
     */
    allowedHosts: z
      .array(z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.?)$/, 'expected a host name without port, like api.example.com, 127.0.0.1 or [::1]'))
      .min(1, 'list at least one host name, or leave allowedHosts out to answer any Host')
      .optional(),
    /** The backends, metrics, status and health streams (and GET /api/status, /api/metrics) without a token. */
    publicStreams: z.boolean().default(true),
    /**
     * Believe X-Forwarded-For from loopback peers (127.0.0.0/8, ::1) on this port, besides
     * server.trustedProxies: the default layout reaches the API through VeloFlux's own data plane
     * on the same host, which replaces X-Forwarded-For from every client it does not trust, so
     * the login throttle sees each client and not 127.0.0.1 (issue 14). Turn it off when a local
     * process that passes a client's X-Forwarded-For through unchanged can reach this port.
     */
    trustLoopback: z.boolean().default(true),
    /**
     * Streams ping every client this often and drop one that did not answer the previous ping
     * (RFC 6455 §5.5.2), so a client that stopped reading is gone within two intervals. The
     * per-client buffer limit alone would take long: kernel socket buffers (megabytes on loopback)
     * fill first at the streams' few KB/s.
     */
    streamPingInterval: duration.refine((ms) => ms >= 100, 'must be at least 100ms').prefault('25s'),
    /** File holding the bearer token Alertmanager sends to POST /api/alerts/webhook (VELOFLUX_ALERT_WEBHOOK_TOKEN takes precedence). */
    alertWebhookTokenFile: z.string().min(1).optional(),
    /** Request bodies larger than this get 413. */
    maxBodySize: size.default(1024 * 1024),
  })
  .prefault({});

/**
 * HTTP/2 to clients on the HTTPS listener, offered by ALPN before http/1.1 (RFC 9113 §3.2).
 * Every bound here is also a defence: nghttp2 enforces the settings we announce, and the
 * session limits end a connection that floods frames nobody needs (pings, settings, resets).
 */
const http2 = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** SETTINGS_MAX_CONCURRENT_STREAMS: requests a client may have open on one connection. */
    maxConcurrentStreams: z.number().int().min(1).max(1000).default(100),
    /** SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113 §6.5.2): the decoded header list, so an HPACK bomb is refused. */
    maxHeaderListSize: size.refine((n) => n >= 1024 && n <= 1024 * 1024, 'must be between 1kb and 1mb').default(16384),
    /** SETTINGS_INITIAL_WINDOW_SIZE: bytes of a request body a client may send ahead of the backend reading it. */
    initialWindowSize: size.refine((n) => n >= 16384 && n <= 2 ** 31 - 1, 'must be between 16kb and 2gb').default(65535),
    /** nghttp2's memory budget for one connection (compression tables, buffered frames), in megabytes. */
    maxSessionMemory: z.number().int().min(1).max(1024).default(10),
    /** PINGs a client may send before reading the answers; past this the connection is closed. */
    maxOutstandingPings: z.number().int().min(1).max(1000).default(10),
    /** Settings entries in one SETTINGS frame (the settings flood of CVE-2019-9515). */
    maxSettings: z.number().int().min(1).max(1000).default(32),
    /** Invalid frames tolerated on one connection before it is closed. */
    maxSessionInvalidFrames: z.number().int().min(0).max(10_000).default(100),
    /** Streams refused at creation (over maxConcurrentStreams) tolerated before the connection is closed. */
    maxSessionRejectedStreams: z.number().int().min(0).max(10_000).default(100),
    /**
     * Rapid reset (CVE-2023-44487): streams a client may cancel before their response is
     * complete, as a burst and then per second; past it the connection gets GOAWAY.
     */
    resetBurst: z.number().int().min(1).max(100_000).default(200),
    resetsPerSecond: z.number().int().min(1).max(100_000).default(50),
  })
  .prefault({});

const server = z
  .strictObject({
    workers: z.union([z.literal('auto'), z.number().int().min(1).max(256)]).default('auto'),
    http: listener(80, '0.0.0.0'),
    /** HTTPS listener; served only when certificates are configured. Certificates are re-read on every reload. */
    https: z
      .strictObject({
        port: port.default(443),
        host: host.default('0.0.0.0'),
        /** PEM files; the served one is chosen by SNI from the names in each certificate. */
        certificates: z.array(z.strictObject({ cert: z.string().min(1), key: z.string().min(1) })).min(1, 'HTTPS needs at least one certificate'),
        http2,
      })
      .optional(),
    api,
    admin: z
      .strictObject({
        port: port.default(9000),
        host: host.default('127.0.0.1'),
        /** File holding the bearer token (VELOFLUX_ADMIN_TOKEN takes precedence). */
        tokenFile: z.string().min(1).optional(),
      })
      .prefault({}),
    metrics: listener(8080, '0.0.0.0'),
    dashboard: listener(3000, '0.0.0.0'),
    dataDir: z.string().min(1).default('./data'),
    redis: redis.optional(),
    /** Peers whose X-Forwarded-For / X-Request-Id are believed. Empty: nobody is. */
    trustedProxies: z.array(cidr).default([]),
    timeouts: serverTimeouts,
    limits,
    /** One JSON line per request on stdout (pino, asynchronous): off, a sample, or all. */
    accessLog: z
      .strictObject({
        mode: z.enum(['off', 'sampled', 'all']).default('off'),
        /** Share of requests logged in `sampled` mode. */
        sampleRate: z.number().min(0).max(1).default(0.01),
      })
      .prefault({}),
  })
  .prefault({});

const backendId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" or "-", starting with a letter or digit');

const tenantId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, ".", "_" or "-"');

const backend = z.strictObject({
  id: backendId,
  url: z.string().refine(isHttpOrigin, { message: 'expected an http:// or https:// origin like http://10.0.0.5:8080' }),
  weight: z.number().int().min(0).max(1000).default(1),
  /** A drained backend gets no new requests; requests already sent to it finish. */
  drain: z.boolean().default(false),
  /**
   * Set by VeloFlux on a backend added through the main API to a tenant's pool: every connection
   * to it is held to that tenant's backendPolicy after DNS resolution (issue 14), not only the add.
   */
  tenant: tenantId.optional(),
});

function isHttpOrigin(text: string): boolean {
  if (!URL.canParse(text)) return false;
  const url = new URL(text);
  return (url.protocol === 'http:' || url.protocol === 'https:') && (url.pathname === '/' || url.pathname === '') && !url.search && !url.username;
}

/** `header:<name>`, `cookie:<name>` or `path`: what consistent_hash hashes. */
const hashKey = z.string().regex(/^(header:[!#$%&'*+.^_`|~0-9A-Za-z-]+|cookie:[^\s;=]+|path)$/, 'expected header:<name>, cookie:<name> or path');

/** `200`, or a range like `200-399`. */
const statusMatcher = z.union([z.number().int().min(100).max(599), z.string().regex(/^[1-5]\d\d-[1-5]\d\d$/, 'expected a status like 200 or a range like 200-399')]);

/** Active health checks, run once by the primary; results are pushed to every worker. */
const healthCheck = z.strictObject({
  path: z.string().regex(/^\/[^\s#]*$/, 'expected a path starting with "/"').default('/health'),
  interval: duration.prefault('5s'),
  timeout: duration.prefault('2s'),
  /** Consecutive passes that mark an unhealthy backend healthy again (rise). */
  healthyThreshold: z.number().int().min(1).max(100).default(2),
  /** Consecutive failures that mark a healthy backend unhealthy (fall). */
  unhealthyThreshold: z.number().int().min(1).max(100).default(3),
  expectedStatuses: z.array(statusMatcher).min(1).default(['200-399']),
  /** Host header for probes; default: the backend's own host:port. */
  host: z.string().min(1).optional(),
  /** How a backend counts before its first probe result: healthy (default) or not. */
  startHealthy: z.boolean().default(true),
}).superRefine((check, ctx) => {
  if (check.interval <= 0) ctx.addIssue({ code: 'custom', path: ['interval'], message: 'must be longer than 0' });
  if (check.timeout <= 0) ctx.addIssue({ code: 'custom', path: ['timeout'], message: 'must be longer than 0' });
  // A probe may take at most one interval, so a dead backend is noticed within the cadence asked for.
  else if (check.interval > 0 && check.timeout > check.interval) ctx.addIssue({ code: 'custom', path: ['timeout'], message: `must not be longer than interval (${check.interval} ms)` });
});

/**
 * Passive outlier detection (as Envoy's): workers report backends that fail N times in a row
 * (connect errors, timeouts, 5xx); the primary ejects them for a time that grows with each
 * ejection, never more than maxEjectionPercent of a pool at once.
 */
const outlierDetection = z.strictObject({
  consecutiveFailures: z.number().int().min(1).max(1000).default(5),
  baseEjectionTime: duration.prefault('30s'),
  maxEjectionTime: duration.prefault('300s'),
  maxEjectionPercent: z.number().int().min(0).max(100).default(50),
});

const pool = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" or "-"'),
  algorithm: z.enum(BALANCER_ALGORITHMS).default('round_robin'),
  hashKey: hashKey.optional(),
  /**
   * Peak-EWMA settings of `algorithm: adaptive` (defaults as Finagle and Linkerd): `decay` is τ,
   * how fast a backend's latency cost forgets; `defaultRtt` the cost a new backend starts at.
   */
  adaptive: z
    .strictObject({
      decay: duration.refine((ms) => ms >= 100, 'must be at least 100ms').prefault('10s'),
      defaultRtt: duration.refine((ms) => ms >= 1, 'must be at least 1ms').prefault('30ms'),
    })
    .prefault({}),
  backends: z.array(backend).min(1, 'a pool needs at least one backend'),
  /**
   * What VeloFlux speaks to the backends: HTTP/1.1, or HTTP/2 (issue 20; gRPC needs it): h2 over
   * TLS negotiated by ALPN for https:// backends, h2c with prior knowledge for http:// ones.
   */
  protocol: z.enum(['http1', 'h2']).default('http1'),
  /** Per-pool overrides of server.timeouts. */
  timeouts: z
    .strictObject({
      connect: upstreamTimeoutFields.connect.optional(),
      response: upstreamTimeoutFields.response.optional(),
      request: upstreamTimeoutFields.request.optional(),
      upstreamKeepAlive: upstreamTimeoutFields.upstreamKeepAlive.optional(),
    })
    .prefault({}),
  /** Extra attempts on another backend, for idempotent requests without a body, on connect errors or 502/503. */
  retries: z.number().int().min(0).max(5).default(1),
  healthCheck: healthCheck.optional(),
  /**
   * Panic mode (as Envoy's): when no backend of the pool is healthy, send traffic to all of them
   * (drained and zero-weight ones excepted) rather than answer 503: health may be what is wrong.
   */
  panicMode: z.boolean().default(false),
  outlierDetection: outlierDetection.optional(),
  /** Upper bound of open connections to each backend of this pool. */
  maxConnectionsPerBackend: z.number().int().min(1).max(100_000).default(1024),
  /**
   * Circuit breaking, per backend and per worker: requests beyond maxConnectionsPerBackend wait
   * for a connection, at most maxPendingPerBackend of them; beyond that the answer is 503 at once.
   */
  circuitBreaker: z.strictObject({ maxPendingPerBackend: z.number().int().min(0).max(100_000).default(1024) }).prefault({}),
  /** Retries may add at most this share of the pool's active requests (with a small floor), so they cannot multiply an outage. */
  retryBudget: z
    .strictObject({ percent: z.number().min(0).max(100).default(20), minRetriesConcurrent: z.number().int().min(0).max(1000).default(3) })
    .prefault({}),
  /** Sticky sessions: an HMAC-signed cookie naming the backend (never its address). */
  sticky: z
    .strictObject({
      cookie: z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a cookie name').default('vf_sticky'),
      /** Cookie lifetime; absent: a session cookie. */
      maxAge: duration.optional(),
    })
    .optional(),
  /** WebSocket tunnels through this pool. */
  websocket: z
    .strictObject({
      /** Closed after this long without a byte in either direction. */
      idleTimeout: duration.prefault('1h'),
      /** Closed after this long in any case; absent: no limit. */
      maxLifetime: duration.optional(),
    })
    .prefault({}),
  /** For https:// backends. */
  tls: z
    .strictObject({
      /** PEM file with the CA(s) that sign the backends' certificates (default: the system store). */
      ca: z.string().min(1).optional(),
      /** SNI / name to verify; default: the backend's host. */
      servername: z.string().min(1).optional(),
      /** Turns certificate verification off. Only for testing; logged at start. */
      insecureSkipVerify: z.boolean().default(false),
    })
    .prefault({}),
});

/**
 * What a rate limit counts by. `header:<name>`: requests without the header (or with it empty)
 * count by their client address instead. `route`: one bucket per route naming the policy. The
 * list grows (`tenant` comes with tenants); each kind is one alternative of this regex.
 */
const rateLimitKey = z.string().regex(/^(ip|route|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+)$/, 'expected ip, route or header:<name>');

/**
 * A token bucket shared by every route that names it (like an nginx `limit_req_zone`): `rate`
 * tokens per `per`, at most `burst` saved up. The limit is global: the workers (and, with Redis,
 * the instances) split it by demand (src/primary/rate-limit/).
 */
const rateLimit = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" or "-"'),
    key: rateLimitKey.default('ip'),
    rate: z.number().int().min(1).max(1_000_000_000),
    per: duration.prefault('1s'),
    /** Bucket capacity: requests allowed at once after a quiet period. Default: `rate`. */
    burst: z.number().int().min(1).max(1_000_000_000).optional(),
  })
  .superRefine((policy, ctx) => {
    if (policy.per <= 0) ctx.addIssue({ code: 'custom', path: ['per'], message: 'must be longer than 0' });
  })
  .transform((policy) => ({ ...policy, burst: policy.burst ?? policy.rate }));

const hostPattern = z
  .string()
  .regex(/^(\*|\*\.[a-z0-9.-]+|[a-z0-9.-]+)$/, 'expected an exact lower-case host, *.suffix or *');

/**
 * An exclusion of the security filter (issue 17): which rules (ids or categories; all when
 * absent), under which path prefixes, for which inputs (`q`, `query:q`, `body:post.content`,
 * `cookie:sid`, `header:referer`). Plain strings compared exactly: no user-supplied pattern runs
 * on a request.
 */
const securityExclusion = z
  .strictObject({
    rules: z
      .array(
        z.union([
          z.number().int().refine((id) => SECURITY_RULE_IDS.has(id), { message: 'unknown rule id (src/shared/security-catalogue.ts lists them)' }),
          z.enum(SECURITY_CATEGORIES),
        ]),
      )
      .min(1)
      .optional(),
    paths: z.array(z.string().regex(/^\/[^?#\s]*$/, 'expected a path prefix starting with "/"').max(1024)).min(1).optional(),
    parameters: z
      .array(z.string().regex(/^(?:(?:query|body|cookie|header|path):)?[^\s:][^\s]{0,255}$/, 'expected a parameter name, optionally prefixed with query:, body:, cookie: or header:'))
      .min(1)
      .optional(),
  })
  .refine((e) => e.rules !== undefined || e.parameters !== undefined, { message: 'name the rules or the parameters to exclude (or both)' });

const securityMode = z.enum(['off', 'detect', 'block']);
/** What happens to a body longer than inspectBodyBytes: the rest is forwarded uninspected, or the request is refused with 413. */
const bodyOverflow = z.enum(['forward', 'reject']);

/** A route's own security settings; what it leaves out comes from the top-level `security`. */
const routeSecurity = z.strictObject({
  mode: securityMode.optional(),
  /** Anomaly score at which a request is an attack (critical 5, error 4, warning 3, notice 2). */
  threshold: z.number().int().min(1).max(1000).optional(),
  /** Request bodies (urlencoded, JSON, multipart form fields) are inspected up to this many bytes; 0: bodies are not inspected. */
  inspectBodyBytes: size.refine((n) => n <= 16 * 1024 * 1024, 'at most 16mb').optional(),
  bodyOverflow: bodyOverflow.optional(),
  /** Added to the top-level exclusions. */
  exclusions: z.array(securityExclusion).default([]),
});

/**
 * The security filter (issue 17): defaults for every route, exclusions for all of them, and
 * address lists. `ipAllow` addresses skip the rules (trusted scanners, internal monitors);
 * `ipDeny` addresses are refused with 403 on every route, whatever its mode.
 */
const security = z
  .strictObject({
    mode: securityMode.default('off'),
    threshold: z.number().int().min(1).max(1000).default(5),
    inspectBodyBytes: size.refine((n) => n <= 16 * 1024 * 1024, 'at most 16mb').default(64 * 1024),
    bodyOverflow: bodyOverflow.default('forward'),
    /** Methods outside this list score as critical (rule 920100). */
    allowedMethods: z.array(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a method token')).min(1).default(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']),
    exclusions: z.array(securityExclusion).default([]),
    ipAllow: z.array(cidr).default([]),
    ipDeny: z.array(cidr).default([]),
  })
  .prefault({});

const route = z.strictObject({
  host: hostPattern.default('*'),
  path: z.string().regex(/^\/[^?#\s]*$/, 'expected a path prefix starting with "/" (no query)').default('/'),
  pool: z.string(),
  /** Remove the matched path prefix before forwarding (like a trailing slash in nginx proxy_pass). */
  stripPrefix: z.boolean().default(false),
  /** Plain-HTTP requests on this route get a 308 to the same URL on HTTPS. */
  redirectHttps: z.boolean().default(false),
  /** The tenant owning this route (its traffic is metered to it; a tenant with routes cannot be deleted). */
  tenant: tenantId.optional(),
  /** Name of a `rateLimits` policy; requests over it get 429. */
  rateLimit: z.string().optional(),
  /** The security filter on this route (defaults from the top-level `security`). */
  security: routeSecurity.optional(),
});

/** `db.example.com` (that name) or `*.example.com` (any name below it, not the name itself); lower case. */
const HOSTNAME_PATTERN = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

const addressPattern = z
  .string()
  .refine((text) => isCidr(text) || HOSTNAME_PATTERN.test(text), { message: 'expected an IP address, a CIDR like 10.0.0.0/8, a host name or *.suffix (lower case)' });

/**
 * Which addresses backends added through the main API to a tenant's pool may have (issue 14:
 * SSRF). Built-in refusals (loopback, link-local, the cloud metadata address, unspecified, this
 * instance's own listener ports on its own addresses, another tenant's origins) apply before
 * these; see backend-address-policy.ts for the order. Private ranges are allowed unless denied.
 */
const backendPolicy = z
  .strictObject({
    /** When not empty, only these: an address or CIDR entry also lifts the loopback, link-local and unspecified refusals for what it covers. */
    allow: z.array(addressPattern).default([]),
    /** Refused in any case (a host name pattern refuses the name; a CIDR refuses what any name resolves to). */
    deny: z.array(addressPattern).default([]),
    /** Per tenant id: `allow`, when given, replaces the global one; `deny` adds to the global one. */
    tenants: z.record(tenantId, z.strictObject({ allow: z.array(addressPattern).optional(), deny: z.array(addressPattern).default([]) })).default({}),
  })
  .prefault({});

/** Cross-references (pool names, backend ids) are checked in references.ts, so they are reported even when other fields are wrong. */
export const configSchema = z.strictObject({
  server,
  pools: z.array(pool).default([]),
  routes: z.array(route).default([]),
  rateLimits: z.array(rateLimit).default([]),
  backendPolicy,
  billing,
  security,
});

/** The config file as written (before defaults). */
export type ConfigInput = z.input<typeof configSchema>;
/** The validated config with every default applied and durations in milliseconds. */
export type VelofluxConfig = z.output<typeof configSchema>;
export type ServerConfig = VelofluxConfig['server'];
export type PoolConfig = VelofluxConfig['pools'][number];
export type BackendConfig = PoolConfig['backends'][number];
export type RouteConfig = VelofluxConfig['routes'][number];
export type HealthCheckConfig = NonNullable<PoolConfig['healthCheck']>;
export type ApiConfig = ServerConfig['api'];
export type Http2Config = NonNullable<ServerConfig['https']>['http2'];
export type RedisConfig = NonNullable<ServerConfig['redis']>;
export type OutlierDetectionConfig = NonNullable<PoolConfig['outlierDetection']>;
export type RateLimitConfig = VelofluxConfig['rateLimits'][number];
export type BackendPolicyConfig = VelofluxConfig['backendPolicy'];
export type BillingConfig = VelofluxConfig['billing'];
export type PlanConfig = BillingConfig['plans'][number];
export type SecurityConfig = VelofluxConfig['security'];
export type RouteSecurityConfig = NonNullable<RouteConfig['security']>;
export type SecurityExclusionConfig = SecurityConfig['exclusions'][number];
