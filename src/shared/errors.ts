/**
 * The error catalogue: one class per failure, each with a stable `VF_ERR_*` code and the HTTP
 * status it maps to. Callers match on `code`, never on message text, and what a failure carries
 * beyond its message (a config error's problems) travels as data, over IPC too (WireError).
 * The JSON body every listener answers with is `{"error": {"code", "message"}}`.
 */
import { formatProblem, type ConfigProblem } from './config/problems.js';

export const ERRORS = {
  VF_ERR_BAD_REQUEST: { status: 400, message: 'Bad request' },
  VF_ERR_CLIENT_TIMEOUT: { status: 408, message: 'Request timeout' },
  VF_ERR_NO_ROUTE: { status: 404, message: 'No route matches this request' },
  VF_ERR_METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed' },
  VF_ERR_BODY_TOO_LARGE: { status: 413, message: 'Request body too large' },
  VF_ERR_HEADERS_TOO_LARGE: { status: 431, message: 'Request header fields too large' },
  VF_ERR_UPSTREAM_CONNECT: { status: 502, message: 'Could not connect to an upstream server' },
  VF_ERR_UPSTREAM_BAD_RESPONSE: { status: 502, message: 'The upstream server sent an invalid response' },
  VF_ERR_NO_HEALTHY_UPSTREAM: { status: 503, message: 'No healthy upstream server is available' },
  VF_ERR_CIRCUIT_OPEN: { status: 503, message: 'Too many requests are already waiting for this upstream server' },
  VF_ERR_UPSTREAM_TIMEOUT: { status: 504, message: 'The upstream server did not answer in time' },
  VF_ERR_LOOP_DETECTED: { status: 508, message: 'The request came back to this VeloFlux instance: a backend points at the proxy itself' },
  VF_ERR_CONFIG_INVALID: { status: 422, message: 'The configuration is invalid' },
  VF_ERR_INVALID_JSON: { status: 400, message: 'The request body is not valid JSON' },
  VF_ERR_VALIDATION: { status: 400, message: 'The request does not match the expected shape' },
  VF_ERR_AUTH_REQUIRED: { status: 401, message: 'An Authorization: Bearer token is required' },
  VF_ERR_AUTH_INVALID: { status: 401, message: 'The token is not valid' },
  VF_ERR_NOT_FOUND: { status: 404, message: 'Not found' },
  VF_ERR_BACKEND_NOT_FOUND: { status: 404, message: 'No backend has this id' },
  VF_ERR_POOL_NOT_FOUND: { status: 404, message: 'No pool has this name' },
  VF_ERR_BACKEND_EXISTS: { status: 409, message: 'A backend with this id already exists' },
  VF_ERR_PRECONDITION_REQUIRED: { status: 428, message: 'If-Match with the ETag from GET /admin/config is required' },
  VF_ERR_PRECONDITION_FAILED: { status: 412, message: 'The configuration changed since that ETag was read' },
  VF_ERR_APPLY_FAILED: { status: 500, message: 'A worker could not apply the change; every worker was rolled back' },
  VF_ERR_PERSIST_FAILED: { status: 500, message: 'The change could not be saved under dataDir; it was not applied' },
  VF_ERR_RATE_LIMITED: { status: 429, message: 'Too many requests: the rate limit for this route was reached' },
  VF_ERR_STATE_UNAVAILABLE: { status: 503, message: 'The state store (Redis) did not answer; retry once it is available' },
  VF_ERR_STATE_FILE_INVALID: { status: 500, message: 'A state file under dataDir cannot be read or understood' },
  VF_ERR_STATE_CONFLICT: { status: 409, message: 'The record was changed concurrently; read it again and retry' },
  VF_ERR_PRIMARY_UNAVAILABLE: { status: 503, message: 'The VeloFlux primary did not answer in time' },
  VF_ERR_TENANT_EXISTS: { status: 409, message: 'A tenant with this id already exists' },
  VF_ERR_TENANT_IN_USE: { status: 409, message: 'The tenant still owns routes' },
  VF_ERR_WEBHOOK_DISABLED: { status: 404, message: 'The alert webhook is off: set VELOFLUX_ALERT_WEBHOOK_TOKEN' },
  VF_ERR_BUSY: { status: 409, message: 'Another operation of this kind is in progress' },
  VF_ERR_INTERNAL: { status: 500, message: 'Internal error' },
  VF_ERR_TOKEN_EXPIRED: { status: 401, message: 'The access token has expired; refresh it' },
  VF_ERR_TOO_MANY_ATTEMPTS: { status: 429, message: 'Too many login attempts; wait before trying again' },
  VF_ERR_USER_EXISTS: { status: 409, message: 'A user with this email already exists' },
  VF_ERR_PASSWORD_POLICY: { status: 400, message: 'The password does not meet the password policy' },
  VF_ERR_FORBIDDEN: { status: 403, message: 'Your role does not allow this' },
  VF_ERR_REGISTRATION_CLOSED: { status: 403, message: 'Registration is closed: ask an administrator for an account' },
  VF_ERR_INVITE_INVALID: { status: 403, message: 'The invite code is not valid, was already used or has expired' },
  VF_ERR_ORIGIN_NOT_ALLOWED: { status: 403, message: 'This Origin may not open a WebSocket stream' },
  VF_ERR_BACKEND_ADDRESS_DENIED: { status: 403, message: 'The backend address policy refuses this address' },
  VF_ERR_HOST_NOT_ALLOWED: { status: 421, message: 'This API does not answer to this Host name (server.api.allowedHosts)' },
  VF_ERR_LAST_ADMIN: { status: 409, message: 'The last active platform admin cannot be removed, demoted or disabled' },
  VF_ERR_TENANT_SUSPENDED: { status: 403, message: 'The tenant is suspended: its routes are refused, and its users may read but not change anything' },
  VF_ERR_QUOTA_EXCEEDED: { status: 429, message: "The tenant's request quota for this billing period is used up" },
  VF_ERR_SECURITY_BLOCKED: { status: 403, message: 'The request was refused by the security filter; quote the X-Request-Id to the site operator' },
  VF_ERR_UNKNOWN_PLAN: { status: 400, message: 'No plan in billing.plans has this id' },
  VF_ERR_PLAN_UNCHANGED: { status: 409, message: 'The tenant is already on this plan' },
  VF_ERR_PLAN_LIMITS: { status: 409, message: 'The tenant uses more than the new plan allows; remove what the message names first' },
  VF_ERR_INVOICES_UNPAID: { status: 409, message: 'The tenant has open invoices: mark them paid or void first' },
  VF_ERR_INVOICE_NOT_OPEN: { status: 409, message: 'Only an open invoice can be marked paid or void' },
  VF_ERR_IDEMPOTENCY_CONFLICT: { status: 409, message: 'This Idempotency-Key was used for a different request, or that request is still running' },
  VF_ERR_AI_NOT_LEADER: { status: 503, message: 'AI training runs on the cluster leader only; ask the leader or retry after a leader change' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class VelofluxError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message: string = ERRORS[code].message, options?: ErrorOptions) {
    super(message, options);
    this.name = 'VelofluxError';
    this.code = code;
    this.status = ERRORS[code].status;
  }
}

/**
 * An invalid configuration (a file, a runtime-state record, an admin change) with every problem
 * and its path. The message lists them too, for logs and `veloflux check`; code reads `problems`.
 */
export class ConfigError extends VelofluxError {
  declare readonly code: 'VF_ERR_CONFIG_INVALID';
  /** What was checked: a file path, `candidate`, `runtime state v3 from node-a`, ... */
  readonly source: string;
  readonly problems: readonly ConfigProblem[];

  constructor(source: string, problems: readonly ConfigProblem[], options?: ErrorOptions) {
    super('VF_ERR_CONFIG_INVALID', `${source}: ${problems.length} problem(s)\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`, options);
    this.name = 'ConfigError';
    this.source = source;
    this.problems = problems;
  }
}

/**
 * An error as it crosses the IPC (a worker's call to the primary answered with a failure): its
 * catalogue code and message, and a ConfigError's source and problems as data, so the receiving
 * side rebuilds the same error instead of parsing the message. `code` is a string because the
 * receiver must cope with one it does not know (read as VF_ERR_INTERNAL).
 */
export interface WireError {
  readonly code: string;
  readonly message: string;
  /** Set together, for a ConfigError. */
  readonly source?: string;
  readonly problems?: readonly ConfigProblem[];
}

/** The WireError for any thrown value; one that is not ours becomes VF_ERR_INTERNAL. */
export function errorToWire(err: unknown): WireError {
  if (err instanceof ConfigError) return { code: err.code, message: err.message, source: err.source, problems: err.problems };
  if (err instanceof VelofluxError) return { code: err.code, message: err.message };
  return { code: 'VF_ERR_INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/** The error a WireError stands for: a ConfigError when it has problems, else a VelofluxError with its code. */
export function errorFromWire(wire: WireError): VelofluxError {
  if (wire.problems !== undefined) return new ConfigError(wire.source ?? 'the configuration', wire.problems);
  return new VelofluxError(Object.hasOwn(ERRORS, wire.code) ? (wire.code as ErrorCode) : 'VF_ERR_INTERNAL', wire.message);
}

/** The JSON body for an error response. */
export function errorBody(code: ErrorCode, message: string = ERRORS[code].message): string {
  return JSON.stringify({ error: { code, message } });
}
