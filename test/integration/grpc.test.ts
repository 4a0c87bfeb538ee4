/**
 * gRPC through a real VeloFlux (issue 20): a real @grpc/grpc-js client speaks h2 over TLS to the
 * HTTPS listener, VeloFlux speaks h2c to a real @grpc/grpc-js server. Unary, server streaming,
 * client streaming and bidirectional calls keep their messages, statuses and trailing metadata;
 * a backend that dies mid-stream gives the client UNAVAILABLE; errors VeloFlux produces itself
 * reach the client as gRPC statuses; grpc-timeout caps the proxy's timeout.
 */
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { createServer as createH2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startVeloflux } from '../helpers/veloflux.js';
import { makeTestCertificates } from '../helpers/tls-certs.js';
import { h2Connect, h2Request } from '../helpers/h2-client.js';

const certs = makeTestCertificates();
t.teardown(() => certs.remove());
const served = certs.issue('localhost', 'DNS:localhost,IP:127.0.0.1');

const definition = protoLoader.loadSync(fileURLToPath(new URL('../fixtures/grpc/echo.proto', import.meta.url)), { keepCase: true });
const proto = grpc.loadPackageDefinition(definition) as unknown as {
  veloflux: { test: { Echo: grpc.ServiceClientConstructor & { service: grpc.ServiceDefinition } } };
};
const Echo = proto.veloflux.test.Echo;

interface Note {
  text: string;
  number: number;
}

/** What the backend saw last (metadata), so tests can show what reached it. */
let lastMetadata: grpc.Metadata | undefined;

const implementation: grpc.UntypedServiceImplementation = {
  Unary(call: grpc.ServerUnaryCall<Note, Note>, callback: grpc.sendUnaryData<Note>) {
    lastMetadata = call.metadata;
    const { text, number } = call.request;
    if (text === 'fail') return callback({ code: grpc.status.NOT_FOUND, details: 'no such note' });
    const trailer = new grpc.Metadata();
    trailer.set('x-trace', `trace-${number}`);
    callback(null, { text: `echo ${text}`, number: number + 1 }, trailer);
  },
  ServerStream(call: grpc.ServerWritableStream<Note, Note>) {
    const { text, number } = call.request;
    if (text === 'die') {
      call.write({ text: 'first', number: 0 });
      call.write({ text: 'second', number: 1 });
      // The backend goes away mid-stream: every session it has is torn down.
      setTimeout(() => dying.forceShutdown(), 100);
      return;
    }
    for (let i = 0; i < number; i++) call.write({ text: `${text} ${i}`, number: i });
    call.end();
  },
  ClientStream(call: grpc.ServerReadableStream<Note, Note>, callback: grpc.sendUnaryData<Note>) {
    let sum = 0;
    const texts: string[] = [];
    call.on('data', (note: Note) => {
      sum += note.number;
      texts.push(note.text);
    });
    call.on('end', () => callback(null, { text: texts.join(','), number: sum }));
  },
  Bidi(call: grpc.ServerDuplexStream<Note, Note>) {
    call.on('data', (note: Note) => call.write({ text: `re: ${note.text}`, number: note.number * 2 }));
    call.on('end', () => call.end());
  },
};

async function startGrpcServer(): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(Echo.service, implementation);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))));
  return { server, port };
}

/** A plain h2c backend that accepts gRPC calls and never answers (nor reads grpc-timeout). */
const mute = createH2Server();
mute.on('stream', (stream) => stream.on('error', () => {}).resume());
mute.listen(0, '127.0.0.1');
await once(mute, 'listening');
t.teardown(() => mute.close());

const backend = await startGrpcServer();
const dyingBackend = await startGrpcServer();
const dying = dyingBackend.server;
t.teardown(() => {
  backend.server.forceShutdown();
  dying.forceShutdown();
});

const vf = await startVeloflux({
  server: { https: { port: 0, host: '127.0.0.1', certificates: [served] } },
  pools: [
    { name: 'grpc', protocol: 'h2', backends: [{ id: 'grpc-1', url: `http://127.0.0.1:${backend.port}` }], timeouts: { request: '10s' } },
    { name: 'dying', protocol: 'h2', backends: [{ id: 'dying-1', url: `http://127.0.0.1:${dyingBackend.port}` }] },
    { name: 'mute', protocol: 'h2', retries: 0, backends: [{ id: 'mute-1', url: `http://127.0.0.1:${(mute.address() as AddressInfo).port}` }], timeouts: { request: '10s', response: '10s' } },
    // Port 1 on loopback: nothing listens there, so the connect is refused.
    { name: 'nowhere', protocol: 'h2', retries: 0, backends: [{ id: 'nowhere-1', url: 'http://127.0.0.1:1' }] },
  ],
  routes: [
    { host: 'dying.test', path: '/', pool: 'dying' },
    { host: 'mute.test', path: '/', pool: 'mute' },
    { host: 'nowhere.test', path: '/', pool: 'nowhere' },
    { path: '/', pool: 'grpc' },
  ],
});
t.teardown(() => vf.stop());

function client(authority = 'localhost'): grpc.Client & Record<string, (...args: unknown[]) => unknown> {
  const credentials = grpc.credentials.createSsl(Buffer.from(certs.ca));
  const made = new Echo(`127.0.0.1:${vf.httpsPort}`, credentials, { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': authority });
  t.teardown(() => made.close());
  return made as unknown as grpc.Client & Record<string, (...args: unknown[]) => unknown>;
}

const echo = client();

function unary(c: ReturnType<typeof client>, note: Note, metadata = new grpc.Metadata()): Promise<{ error: grpc.ServiceError | null; reply: Note | undefined; trailers: grpc.Metadata | undefined }> {
  return new Promise((resolve) => {
    let trailers: grpc.Metadata | undefined;
    const call = c.Unary(note, metadata, (error: grpc.ServiceError | null, reply: Note | undefined) => {
      // The status (with its trailing metadata) may arrive after the callback.
      setImmediate(() => resolve({ error, reply, trailers: trailers ?? error?.metadata }));
    }) as grpc.ClientUnaryCall;
    call.on('status', (status: grpc.StatusObject) => (trailers = status.metadata));
  });
}

t.test('unary: the message, the OK status and the trailing metadata come back; metadata goes through', async (t) => {
  const metadata = new grpc.Metadata();
  metadata.set('x-user', 'alice');
  const { error, reply, trailers } = await unary(echo, { text: 'hi', number: 41 }, metadata);
  t.equal(error, null);
  t.same(reply, { text: 'echo hi', number: 42 });
  t.same(trailers?.get('x-trace'), ['trace-41'], 'trailing metadata arrived in the trailers');
  t.same(lastMetadata?.get('x-user'), ['alice'], 'request metadata reached the backend');
  t.ok(lastMetadata?.get('x-forwarded-for').length, 'the proxy added its forwarding headers');
});

t.test('unary: a status the backend returns reaches the client as it was', async (t) => {
  const { error } = await unary(echo, { text: 'fail', number: 0 });
  t.equal(error?.code, grpc.status.NOT_FOUND);
  t.equal(error?.details, 'no such note');
});

t.test('server streaming: every message, in order, then OK', async (t) => {
  const call = echo.ServerStream({ text: 'tick', number: 5 }) as grpc.ClientReadableStream<Note>;
  const got: Note[] = [];
  call.on('data', (note: Note) => got.push(note));
  const status = await new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  t.equal(status.code, grpc.status.OK);
  t.same(got.map((n) => n.text), ['tick 0', 'tick 1', 'tick 2', 'tick 3', 'tick 4']);
});

t.test('client streaming: the backend reads every message the client sent', async (t) => {
  const reply = await new Promise<Note>((resolve, reject) => {
    const call = echo.ClientStream((err: grpc.ServiceError | null, note: Note) => (err ? reject(err) : resolve(note))) as grpc.ClientWritableStream<Note>;
    for (let i = 1; i <= 4; i++) call.write({ text: `n${i}`, number: i });
    call.end();
  });
  t.same(reply, { text: 'n1,n2,n3,n4', number: 10 });
});

t.test('bidirectional: each message is answered while the call stays open', async (t) => {
  const call = echo.Bidi() as grpc.ClientDuplexStream<Note, Note>;
  const replies: Note[] = [];
  const statusSeen = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  // Ping-pong: the next message goes only after the answer to the last one, so streaming both
  // ways at once is what carries the call, not buffering.
  for (let i = 1; i <= 3; i++) {
    const answered = new Promise<Note>((resolve) => call.once('data', resolve));
    call.write({ text: `m${i}`, number: i });
    replies.push(await answered);
  }
  call.end();
  t.equal((await statusSeen).code, grpc.status.OK);
  t.same(replies, [{ text: 're: m1', number: 2 }, { text: 're: m2', number: 4 }, { text: 're: m3', number: 6 }]);
});

t.test('a backend that dies mid-stream: the client gets the messages sent so far, then UNAVAILABLE', async (t) => {
  const call = client('dying.test').ServerStream({ text: 'die', number: 0 }) as grpc.ClientReadableStream<Note>;
  const got: string[] = [];
  call.on('data', (note: Note) => got.push(note.text));
  call.on('error', () => {});
  const status = await new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  t.same(got, ['first', 'second']);
  t.equal(status.code, grpc.status.UNAVAILABLE, `status ${status.code}: ${status.details}`);
});

t.test('errors VeloFlux produces itself are gRPC statuses in Trailers-Only form', async (t) => {
  const refused = await unary(client('nowhere.test'), { text: 'hi', number: 1 });
  t.equal(refused.error?.code, grpc.status.UNAVAILABLE, 'a refused connect is UNAVAILABLE');
  t.match(refused.error?.details, /VF_ERR_UPSTREAM_CONNECT/);

  // The raw answer: HTTP 200, grpc-status in the one HEADERS frame, no body.
  const session = await h2Connect(vf.httpsPort!, certs.ca);
  t.teardown(() => session.close());
  const raw = await h2Request(session, { ':method': 'POST', ':path': '/veloflux.test.Echo/Unary', ':authority': 'nowhere.test', 'content-type': 'application/grpc', te: 'trailers' }, Buffer.alloc(5));
  t.equal(raw.status, 200);
  t.equal(raw.headers['grpc-status'], '14');
  t.match(String(raw.headers['grpc-message']), /^VF_ERR_UPSTREAM_CONNECT: /);
  t.equal(raw.body.length, 0);

  const plain = await h2Request(session, { ':method': 'POST', ':path': '/x', ':authority': 'nowhere.test', 'content-type': 'application/json' }, '{}');
  t.equal(plain.status, 502, 'a request that is not gRPC still gets the HTTP error');
});

t.test('grpc-timeout caps the proxy timeout: DEADLINE_EXCEEDED from the proxy', async (t) => {
  const session = await h2Connect(vf.httpsPort!, certs.ca);
  t.teardown(() => session.close());
  // A protobuf Note { text: "slow" }, length-prefixed as gRPC frames it, to a backend that never answers.
  const message = Buffer.from([0x0a, 0x04, ...Buffer.from('slow')]);
  const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]);
  const started = performance.now();
  const answer = await h2Request(session, { ':method': 'POST', ':path': '/veloflux.test.Echo/Unary', ':authority': 'mute.test', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '500m' }, frame);
  const tookMs = performance.now() - started;
  t.equal(answer.status, 200);
  t.equal(answer.headers['grpc-status'], '4', 'DEADLINE_EXCEEDED');
  t.match(String(answer.headers['grpc-message']), /VF_ERR_UPSTREAM_TIMEOUT/);
  t.ok(tookMs < 5000, `answered long before the pool's 10 s timeouts: ${Math.round(tookMs)} ms`);
});
