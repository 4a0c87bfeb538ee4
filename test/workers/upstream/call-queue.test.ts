import t from 'tap';
import { CallQueue } from '../../../src/workers/upstream/call-queue.js';
import { UpstreamCall, type UpstreamHandler } from '../../../src/workers/upstream/upstream-call.js';

const handler: UpstreamHandler = {
  onConnect: () => {},
  onHeaders: () => true,
  onData: () => true,
  onComplete: () => {},
  onError: () => {},
  onBodySent: () => {},
};
const owner = { abortCall: () => {} };
const calls = (n: number): UpstreamCall[] =>
  Array.from({ length: n }, (_, i) => new UpstreamCall({ method: 'GET', path: `/${i}`, headers: [], body: null, contentLength: 0 }, handler, owner));
const paths = (list: readonly (UpstreamCall | undefined)[]): string[] => list.map((c) => c?.request.path ?? '-');

t.test('first in, first out, across wrap-around and growth', async (t) => {
  const queue = new CallQueue();
  const all = calls(100);
  // Move the head so later pushes wrap around the 16 initial slots, then grow past them.
  for (const call of all.slice(0, 10)) queue.push(call);
  t.same(paths([queue.shift(), queue.shift(), queue.shift()]), ['/0', '/1', '/2']);
  for (const call of all.slice(10)) queue.push(call);
  t.equal(queue.length, 97);
  t.same(paths(queue.drain()), paths(all.slice(3)), 'every call, in order');
  t.equal(queue.length, 0);
  t.equal(queue.shift(), undefined);
});

t.test('unshift puts a call first; forget skips it and keeps the count exact', async (t) => {
  const queue = new CallQueue();
  const [a, b, c, again] = calls(4);
  queue.push(a!);
  queue.push(b!);
  queue.push(c!);
  queue.unshift(again!);
  t.equal(queue.length, 4);
  queue.forget(b!);
  queue.forget(b!);
  t.equal(queue.length, 3, 'forgetting twice counts once');
  t.equal(b!.waiting, false);
  t.same(paths(queue.drain()), ['/3', '/0', '/2'], 'the forgotten call is skipped');
  queue.forget(a!);
  t.equal(queue.length, 0, 'forgetting a call that left the queue changes nothing');
});
