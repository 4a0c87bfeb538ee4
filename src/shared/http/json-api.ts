/**
 * What every VeloFlux JSON API (admin on :9000, main API on :9090) does the same way: strict
 * schema validation (unknown fields are errors, nothing coerced, every problem listed), an empty
 * body with a JSON content type counts as no body, bodies nest at most MAX_JSON_DEPTH levels, slow
 * request heads are cut at `server.timeouts.clientHeader` as on the data plane, and every error,
 * ours, fastify's or node's, answers `{"error": {"code": "VF_ERR_...", "message": ...}}` with the
 * catalogue's status. A 5xx answer also carries the request id (body and X-Request-Id) under which
 * the detail was logged; an unexpected error's own message stays in the log, never in the answer
 * (issue 12).
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { formatProblem } from '../config/problems.js';
import { ConfigError, ERRORS, VelofluxError, errorBody, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { headerCheckInterval } from './head-timeout.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from './json-depth.js';

export function sendError(reply: FastifyReply, code: ErrorCode, message: string = ERRORS[code].message, extra: Record<string, unknown> = {}): FastifyReply {
  return reply.code(ERRORS[code].status).send({ error: { code, message, ...extra } });
}

export interface JsonApiOptions {
  /** For log lines and the not-found message ("no admin route ..."). */
  readonly name: string;
  readonly bodyLimit: number;
  readonly log: Logger;
  /** Behind the VeloFlux proxy: believe X-Forwarded-For from these (fastify's trustProxy). */
  readonly trustProxy?: boolean | string[];
  /**
   * `server.timeouts`: the whole request head must arrive within clientHeader (slowloris), the
   * whole request within request. Node's defaults otherwise: 60 s for the head, checked every 30 s.
   */
  readonly timeouts?: { readonly clientHeader: number; readonly request: number };
}

export function createJsonApi({ name, bodyLimit, log, trustProxy, timeouts }: JsonApiOptions): FastifyInstance {
  const app = Fastify({
    ...(timeouts === undefined
      ? {}
      : {
          http: { headersTimeout: timeouts.clientHeader, connectionsCheckingInterval: headerCheckInterval(timeouts.clientHeader) },
          // Node refuses a request timeout shorter than the head timeout.
          requestTimeout: Math.max(timeouts.request, timeouts.clientHeader),
        }),
    clientErrorHandler: answerClientError,
    // Requests are not logged one by one (changes are audited; traffic is in the metrics).
    loggerInstance: log.child({ component: name }, { level: 'warn' }) as FastifyBaseLogger,
    bodyLimit,
    trustProxy: trustProxy ?? false,
    // Unique across workers and restarts (fastify's default counts from req-1 in each process),
    // so the id a client reports finds one log line. A client's own X-Request-Id is not taken.
    genReqId: () => randomUUID(),
    // Unknown fields must be errors, not silently dropped (fastify's ajv default removes them).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: true } },
  });

  // Clients that always send Content-Type: application/json (curl -H habits, many SDKs) send no
  // body with POST .../drain, DELETE...: an empty body is "no body", not broken JSON.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString();
    if (text === '') return done(null, undefined);
    if (nestsDeeperThan(text, MAX_JSON_DEPTH)) return done(new VelofluxError('VF_ERR_INVALID_JSON', `the request body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`), undefined);
    parseJson(request, text, done);
  });

  /**
   * A 5xx: logged with the request id, which the answer carries too, so a report finds the log
   * line. Only a 500 is a fault of ours; a 503 (Redis or the primary away) is logged as a warning.
   */
  const sendFailure = (request: FastifyRequest, reply: FastifyReply, err: Error, code: ErrorCode, message: string): FastifyReply => {
    log[ERRORS[code].status === 500 ? 'error' : 'warn']({ err, requestId: request.id, method: request.method, url: request.url }, `${name} error`);
    void reply.header('x-request-id', request.id);
    return sendError(reply, code, message, { requestId: request.id });
  };

  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof ConfigError) {
      return sendError(reply, err.code, `${err.problems.length} problem(s) in the configuration`, { problems: err.problems.map(formatProblem) });
    }
    if (err instanceof VelofluxError) {
      if (err.status < 500) return sendError(reply, err.code, err.message);
      // VF_ERR_INTERNAL's message is a detail for the log (a primary's failure arrives as one over
      // the RPC); the other 5xx codes (apply, persist, unavailable) word theirs for the user.
      return sendFailure(request, reply, err, err.code, err.code === 'VF_ERR_INTERNAL' ? ERRORS.VF_ERR_INTERNAL.message : err.message);
    }
    if (err.validation !== undefined) {
      const fields = err.validation.map((v) => ({ field: `${err.validationContext ?? 'body'}${v.instancePath.replace(/\//g, '.')}${v.keyword === 'required' ? `.${String(v.params.missingProperty)}` : v.keyword === 'additionalProperties' ? `.${String(v.params.additionalProperty)}` : ''}`, problem: v.message ?? v.keyword }));
      return sendError(reply, 'VF_ERR_VALIDATION', err.message, { fields });
    }
    if (err instanceof SyntaxError || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
      return sendError(reply, 'VF_ERR_INVALID_JSON', `the request body is not valid JSON: ${err.message}`);
    }
    if (err.statusCode === 413) return sendError(reply, 'VF_ERR_BODY_TOO_LARGE', `the request body is larger than ${bodyLimit} bytes`);
    if (err.statusCode === 415) return sendError(reply, 'VF_ERR_VALIDATION', 'Content-Type must be application/json');
    if (err.statusCode !== undefined && err.statusCode < 500) return sendError(reply, 'VF_ERR_VALIDATION', err.message);
    return sendFailure(request, reply, err, 'VF_ERR_INTERNAL', ERRORS.VF_ERR_INTERNAL.message);
  });

  app.setNotFoundHandler((request, reply) => sendError(reply, 'VF_ERR_NOT_FOUND', `no ${name} route ${request.method} ${request.url}`));
  return app;
}

/** What node could not parse or timed out, in the VeloFlux error shape (fastify's default answers its own). */
function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const code: ErrorCode = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'VF_ERR_CLIENT_TIMEOUT' : err.code === 'HPE_HEADER_OVERFLOW' ? 'VF_ERR_HEADERS_TOO_LARGE' : 'VF_ERR_BAD_REQUEST';
  const { status } = ERRORS[code];
  const body = errorBody(code);
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }
  socket.destroy();
}
