/**
 * The worker's security event shipper: one message per interval with the events drained from the
 * ring, never more than the batch bound; what the ring overwrote or the batch left out is the
 * `dropped` count; counts cover every event; nothing is sent when there were none.
 */
import t from 'tap';
import type { WorkerMessage } from '../../../src/shared/ipc.js';
import type { SecurityEvent } from '../../../src/shared/security-events.js';
import { SecurityEventLog } from '../../../src/workers/telemetry/security-events.js';
import { SecurityEventShipper } from '../../../src/workers/primary-link/security-event-shipper.js';

function event(n: number): SecurityEvent {
  return { ts: n, requestId: `r${n}`, action: 'detected', route: '*/', tenant: 'acme', client: '127.0.0.1', method: 'GET', path: '/', score: 5, categories: ['xss', 'sqli'], matches: [] };
}

t.test('bounded batches, dropped and exact counts', async (t) => {
  const log = new SecurityEventLog();
  const sent: WorkerMessage[] = [];
  const shipper = new SecurityEventShipper(log, (m) => sent.push(m), 100);
  shipper.flush();
  t.equal(sent.length, 0, 'nothing to say, nothing sent');

  for (let i = 0; i < 300; i++) log.record(event(i));
  shipper.flush();
  t.equal(sent.length, 1);
  const batch = sent[0] as Extract<WorkerMessage, { type: 'security-events' }>;
  t.equal(batch.type, 'security-events');
  t.equal(batch.events.length, 100, 'at most the batch bound');
  t.equal(batch.events.at(-1)!.requestId, 'r299', 'the newest kept');
  t.equal(batch.dropped, 200, '44 overwritten in the ring of 256, 156 over the batch');
  t.same(batch.counts.map((c) => [c.tenant, c.category, c.action, c.count]).sort(), [['acme', 'sqli', 'detected', 300], ['acme', 'xss', 'detected', 300]], 'every event counted');

  log.record(event(300));
  shipper.flush();
  const next = sent[1] as Extract<WorkerMessage, { type: 'security-events' }>;
  t.equal(next.events.length, 1);
  t.equal(next.dropped, 0, 'dropped is since the last batch');
  t.same(next.counts.map((c) => c.count), [1, 1]);
});
