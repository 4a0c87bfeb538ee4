/** How proxy errors map to gRPC statuses, and how grpc-timeout is read. */
import t from 'tap';
import { grpcStatusOf, grpcTrailers, isGrpc, parseGrpcTimeout } from '../../../src/workers/proxy/grpc-status.js';

t.test('proxy errors map to the gRPC status a client can act on', async (t) => {
  t.equal(grpcStatusOf('VF_ERR_NO_HEALTHY_UPSTREAM'), 14, 'no healthy upstream: UNAVAILABLE');
  t.equal(grpcStatusOf('VF_ERR_CIRCUIT_OPEN'), 14, 'breaker open: UNAVAILABLE');
  t.equal(grpcStatusOf('VF_ERR_UPSTREAM_CONNECT'), 14, 'connect failure: UNAVAILABLE');
  t.equal(grpcStatusOf('VF_ERR_UPSTREAM_TIMEOUT'), 4, 'timeout: DEADLINE_EXCEEDED');
  t.equal(grpcStatusOf('VF_ERR_RATE_LIMITED'), 8, '429: RESOURCE_EXHAUSTED');
  t.equal(grpcStatusOf('VF_ERR_NO_ROUTE'), 12, '404: UNIMPLEMENTED');
  t.equal(grpcStatusOf('VF_ERR_LOOP_DETECTED'), 13, 'anything else: INTERNAL');
  t.same(grpcTrailers('VF_ERR_CIRCUIT_OPEN'), { 'grpc-status': '14', 'grpc-message': 'VF_ERR_CIRCUIT_OPEN: Too many requests are already waiting for this upstream server' });
});

t.test('only application/grpc* is gRPC', async (t) => {
  t.ok(isGrpc('application/grpc'));
  t.ok(isGrpc('application/grpc+proto'));
  t.ok(isGrpc('Application/GRPC-web'));
  t.notOk(isGrpc('application/json'));
  t.notOk(isGrpc(undefined));
});

t.test('grpc-timeout: value and unit, at most 8 digits', async (t) => {
  t.equal(parseGrpcTimeout('5S'), 5000);
  t.equal(parseGrpcTimeout('200m'), 200);
  t.equal(parseGrpcTimeout('1H'), 3_600_000);
  t.equal(parseGrpcTimeout('2M'), 120_000);
  t.equal(parseGrpcTimeout('1000u'), 1);
  t.equal(parseGrpcTimeout('123456789S'), undefined, 'nine digits are malformed');
  t.equal(parseGrpcTimeout('5s'), undefined, 'units are case-sensitive');
  t.equal(parseGrpcTimeout(undefined), undefined);
});
