/**
 * GET /api/version and GET /api/system/info: what runs here, read from this process and its host.
 * The version is public (clients check compatibility before logging in); the host facts (hostname,
 * kernel release, pid, memory) help an attacker fingerprint the machine, so they need a viewer
 * token (issue 14, item 11c).
 */
import { availableParallelism, cpus, freemem, hostname, loadavg, platform, release, totalmem, uptime } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { VELOFLUX_VERSION } from '../../../shared/version.js';
import type { ApiContext } from '../api-context.js';
import { bearer, withErrors } from '../schemas.js';

const versionSchema = {
  type: 'object',
  required: ['version', 'node', 'ipcProtocol'],
  properties: { version: { type: 'string' }, node: { type: 'string' }, ipcProtocol: { type: 'integer' } },
} as const;

const systemInfoSchema = {
  type: 'object',
  required: ['hostname', 'os', 'node', 'cpus', 'memory', 'load', 'uptimeSeconds', 'workers', 'process'],
  properties: {
    hostname: { type: 'string' },
    os: { type: 'object', properties: { platform: { type: 'string' }, release: { type: 'string' } } },
    node: { type: 'string' },
    cpus: { type: 'object', properties: { count: { type: 'integer' }, model: { type: 'string' } } },
    memory: { type: 'object', properties: { totalBytes: { type: 'integer' }, freeBytes: { type: 'integer' } } },
    load: { type: 'array', items: { type: 'number' } },
    uptimeSeconds: { type: 'number' },
    workers: { type: 'integer' },
    process: { type: 'object', properties: { pid: { type: 'integer' }, rssBytes: { type: 'integer' }, heapUsedBytes: { type: 'integer' }, uptimeSeconds: { type: 'number' } } },
  },
} as const;

export function registerSystemRoutes(app: FastifyInstance, context: ApiContext, ipcProtocol: number): void {
  app.get('/api/version', { schema: { tags: ['system'], summary: 'VeloFlux and Node versions', response: { 200: versionSchema } } }, async () => ({
    version: VELOFLUX_VERSION,
    node: process.version,
    ipcProtocol,
  }));

  app.get(
    '/api/system/info',
    { schema: { tags: ['system'], summary: 'Host and process facts of the answering worker (viewer token)', security: bearer, response: withErrors({ 200: systemInfoSchema }, 401) }, onRequest: context.auth.require('viewer') },
    async () => {
      const memory = process.memoryUsage();
      return {
        hostname: hostname(),
        os: { platform: platform(), release: release() },
        node: process.version,
        cpus: { count: availableParallelism(), model: cpus()[0]?.model ?? 'unknown' },
        memory: { totalBytes: totalmem(), freeBytes: freemem() },
        load: loadavg().map((l) => Math.round(l * 100) / 100),
        uptimeSeconds: Math.round(uptime()),
        workers: context.config().server.workers as number,
        process: { pid: process.pid, rssBytes: memory.rss, heapUsedBytes: memory.heapUsed, uptimeSeconds: Math.round(process.uptime()) },
      };
    },
  );
}
