/**
 * How every JSON API answers a failure: a 500 says only "Internal error" with the request id
 * under which the detail was logged; a config error lists its problems from the data.
 */
import t, { type Test } from 'tap';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createJsonApi } from '../../../src/shared/http/json-api.js';
import { ConfigError, VelofluxError } from '../../../src/shared/errors.js';

/** A JSON API whose log lines are kept in `lines`. */
function setUp(t: Test) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const app = createJsonApi({ name: 'test', bodyLimit: 1024, log: pino({ level: 'info' }, sink) });
  app.get('/plain', async () => {
    throw new Error('ECONNREFUSED 10.0.0.7:6379 while reading /var/lib/veloflux/secret');
  });
  app.get('/internal', async () => {
    throw new VelofluxError('VF_ERR_INTERNAL', 'no workers to apply the config to yet');
  });
  app.get('/unavailable', async () => {
    throw new VelofluxError('VF_ERR_STATE_UNAVAILABLE', 'Redis did not answer within 500 ms');
  });
  app.get('/config', async () => {
    throw new ConfigError('/etc/veloflux/veloflux.yaml', [
      { path: ['routes', 1, 'pool'], message: 'unknown pool "api"' },
      { path: [], message: 'a message\nover two lines' },
    ]);
  });
  t.teardown(() => app.close());
  return { app, lines };
}

interface ErrorBody {
  error: { code: string; message: string; requestId?: string; problems?: string[] };
}

t.test('a 500 answers a generic message and the request id; the detail is only in the log', async (t) => {
  const { app, lines } = setUp(t);
  const res = await app.inject({ method: 'GET', url: '/plain' });
  t.equal(res.statusCode, 500);
  t.notMatch(res.body, /ECONNREFUSED|10\.0\.0\.7|secret/, 'nothing of the internal message in the body');
  const body = res.json<ErrorBody>();
  t.match(body, { error: { code: 'VF_ERR_INTERNAL', message: 'Internal error', requestId: /^[0-9a-f-]{36}$/ } });
  t.same(Object.keys(body.error).sort(), ['code', 'message', 'requestId']);
  t.equal(res.headers['x-request-id'], body.error.requestId, 'the id in the X-Request-Id header too');

  const logged = lines.filter((l) => l.requestId === body.error.requestId);
  t.equal(logged.length, 1, 'one log line under that id');
  t.match(logged[0], { level: 50, method: 'GET', url: '/plain', err: { message: /ECONNREFUSED 10\.0\.0\.7:6379/, stack: /json-api\.test\.ts/ } }, 'with the detail and its stack');

  const again = (await app.inject({ method: 'GET', url: '/plain' })).json<ErrorBody>();
  t.not(again.error.requestId, body.error.requestId, 'each request has its own id');
});

t.test('a catalogue VF_ERR_INTERNAL is answered the same way: its message is a detail for the log', async (t) => {
  const { app, lines } = setUp(t);
  const res = await app.inject({ method: 'GET', url: '/internal' });
  t.equal(res.statusCode, 500);
  t.notMatch(res.body, /no workers/);
  const { error } = res.json<ErrorBody>();
  t.match(error, { code: 'VF_ERR_INTERNAL', message: 'Internal error' });
  t.match(lines.find((l) => l.requestId === error.requestId), { level: 50, err: { message: 'no workers to apply the config to yet' } });
});

t.test('another 5xx keeps its catalogue message, with the request id, logged as a warning', async (t) => {
  const { app, lines } = setUp(t);
  const res = await app.inject({ method: 'GET', url: '/unavailable' });
  t.equal(res.statusCode, 503);
  const { error } = res.json<ErrorBody>();
  t.match(error, { code: 'VF_ERR_STATE_UNAVAILABLE', message: 'Redis did not answer within 500 ms', requestId: /./ });
  t.equal(res.headers['x-request-id'], error.requestId);
  t.match(lines.find((l) => l.requestId === error.requestId), { level: 40 });
});

t.test('a config error answers 422 with its problems, one string each, and no file path', async (t) => {
  const { app } = setUp(t);
  const res = await app.inject({ method: 'GET', url: '/config' });
  t.equal(res.statusCode, 422);
  t.same(res.json(), {
    error: { code: 'VF_ERR_CONFIG_INVALID', message: '2 problem(s) in the configuration', problems: ['routes[1].pool: unknown pool "api"', '(root): a message\nover two lines'] },
  });
  t.notMatch(res.body, /veloflux\.yaml/);
  t.equal(res.headers['x-request-id'], undefined, 'a 4xx carries no request id');
});

t.test('a 4xx is not logged', async (t) => {
  const { app, lines } = setUp(t);
  t.equal((await app.inject({ method: 'GET', url: '/nowhere' })).statusCode, 404);
  t.equal((await app.inject({ method: 'GET', url: '/config' })).statusCode, 422);
  t.same(lines, []);
});
