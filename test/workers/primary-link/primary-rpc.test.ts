/**
 * A worker's PrimaryRpc against the primary's WorkerRpc over a link that behaves like IPC
 * (JSON-serialised, asynchronous): a failure arrives as the error the primary threw, its code
 * and a config error's problems kept as data, not as message text.
 */
import t from 'tap';
import { validateConfig } from '../../../src/shared/config/load.js';
import { ConfigError, VelofluxError } from '../../../src/shared/errors.js';
import type { PrimaryMessage, WorkerMessage } from '../../../src/shared/ipc.js';
import type { RpcMethod, RpcMethods } from '../../../src/shared/rpc.js';
import { WorkerRpc } from '../../../src/primary/worker-rpc.js';
import { PrimaryRpc } from '../../../src/workers/primary-link/primary-rpc.js';

const wire = <T>(message: T): T => JSON.parse(JSON.stringify(message)) as T;
const actor = { user: 'u1 ada@example.com', address: '127.0.0.1' };
const add: RpcMethods['backends.add']['params'] = { pool: 'web', backend: { id: 'web-2', url: 'ftp://nope' }, actor };

/** One worker (id 1) linked to a primary whose handlers `setUp` registers. */
function setUp(register: (rpc: WorkerRpc) => void): PrimaryRpc {
  let worker: PrimaryRpc | undefined = undefined;
  const primary = new WorkerRpc((_workerId, message: PrimaryMessage) => {
    const m = wire(message);
    if (m.type === 'rpc-reply') setImmediate(() => worker!.settle(m.requestId, m.result, m.error));
  });
  register(primary);
  worker = new PrimaryRpc((message: WorkerMessage) => {
    const m = wire(message);
    if (m.type === 'rpc-request') setImmediate(() => primary.dispatch(1, m.requestId, m.method, m.params));
  });
  return worker;
}

async function failureOf(rpc: PrimaryRpc, method: RpcMethod, params: unknown): Promise<unknown> {
  try {
    await rpc.call(method, params as never);
  } catch (err) {
    return err;
  }
  throw new Error(`${method} did not fail`);
}

t.test('a config error from the primary arrives as a ConfigError with the same problems', async (t) => {
  const summary = { configVersion: 2, etag: '"e"', needsRestart: [], skipped: [] };
  // What the ConfigController validates: a typo'd key, a bad URL, a route to a missing pool.
  const candidate = (params: typeof add) => ({ pools: [{ name: params.pool, backends: [{ ...params.backend, wieght: 2 }] }], routes: [{ path: '/', pool: 'api' }] });
  const validate = (params: typeof add) => validateConfig(candidate(params), '/etc/veloflux/veloflux.yaml', {});
  const rpc = setUp((primary) => primary.handle('backends.add', async (params) => (validate(params), summary)));
  const thrown = t.throws(() => validate(add));
  t.ok(thrown instanceof ConfigError && thrown.problems.length >= 3, 'the primary throws a ConfigError with several problems');

  const err = await failureOf(rpc, 'backends.add', add);
  t.ok(err instanceof ConfigError, 'the worker rejects with a ConfigError');
  const [sent, received] = [thrown as ConfigError, err as ConfigError];
  t.same(received.problems, sent.problems, 'the same problems, paths as arrays');
  t.match(received.problems, [{ path: ['pools', 0, 'backends', 0, 'url'] }], 'a numeric index stays a number');
  t.equal(received.code, 'VF_ERR_CONFIG_INVALID');
  t.equal(received.status, 422);
  t.equal(received.source, '/etc/veloflux/veloflux.yaml');
  t.equal(received.message, sent.message, 'the message is rebuilt identically from source and problems');
});

t.test('a catalogue error keeps its code and message; anything else becomes VF_ERR_INTERNAL', async (t) => {
  const rpc = setUp((primary) =>
    primary
      .handle('backends.remove', async ({ id }) => {
        throw new VelofluxError('VF_ERR_BACKEND_NOT_FOUND', `no backend with id "${id}"`);
      })
      .handle('backends.update', async () => {
        throw new TypeError('cannot read properties of undefined');
      }),
  );
  const notFound = await failureOf(rpc, 'backends.remove', { id: 'ghost', actor });
  t.ok(notFound instanceof VelofluxError && !(notFound instanceof ConfigError));
  t.match(notFound, { code: 'VF_ERR_BACKEND_NOT_FOUND', status: 404, message: 'no backend with id "ghost"' });
  t.notOk('problems' in (notFound as object), 'no problems on an error that has none');

  t.match(await failureOf(rpc, 'backends.update', { id: 'web-1', weight: 2, actor }), { code: 'VF_ERR_INTERNAL', status: 500 });
  t.match(await failureOf(rpc, 'logs.recent', {}), { code: 'VF_ERR_INTERNAL', message: 'unknown method logs.recent' }, 'a method without a handler');
});

t.test('a result arrives as the handler returned it', async (t) => {
  const summary = { configVersion: 3, etag: '"abc"', needsRestart: [], skipped: [] };
  const rpc = setUp((primary) => primary.handle('backends.add', async () => summary));
  t.same(await rpc.call('backends.add', add), summary);
});
