/**
 * The primary's security event store on a real embedded state store: the newest events are kept
 * in a bounded ring of pages however many arrive, each with an id; one tick stores a bounded
 * number and counts the rest as dropped; per-minute counts add up exactly (dropped events
 * included) and two writers sharing a store add to each other's minute rather than overwrite it.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { EmbeddedStateStore } from '../../../src/shared/state/embedded-store.js';
import { SecurityEventStore, STORED_PER_TICK } from '../../../src/primary/security/security-event-store.js';
import {
  SECURITY_EVENTS_NAMESPACE,
  SECURITY_MINUTES_NAMESPACE,
  SECURITY_STORED_EVENTS,
  type SecurityEvent,
  type SecurityEventPage,
  type SecurityMinute,
} from '../../../src/shared/security-events.js';

const log = pino({ level: 'silent' });
const NOW = Date.UTC(2026, 11, 2, 10, 30, 15);

async function openStore(): Promise<EmbeddedStateStore> {
  return EmbeddedStateStore.open(mkdtempSync(join(tmpdir(), 'vf-secevents-')), 'node-a');
}

function event(n: number, tenant: string | null = null): SecurityEvent {
  return { ts: NOW + n, requestId: `req-${n}`, action: 'blocked', route: '*/shop/', tenant, client: '127.0.0.1', method: 'GET', path: '/shop/', score: 5, categories: ['sqli'], matches: [{ ruleId: 942100, category: 'sqli', variable: 'query:id', snippet: "1' or '1'='1" }] };
}

async function storedEvents(store: EmbeddedStateStore) {
  const pages = await store.list<SecurityEventPage>(SECURITY_EVENTS_NAMESPACE);
  return [...pages.values()].flatMap((p) => p.value.events).sort((a, b) => a.ts - b.ts);
}

t.test('the store keeps the newest events in a bounded ring, each with an id', async (t) => {
  const store = await openStore();
  const events = new SecurityEventStore(store, log, () => NOW);
  let n = 0;
  // 30 ticks of 80 events: 2400 in all, more than the ring holds.
  for (let tick = 0; tick < 30; tick++) {
    events.add(Array.from({ length: 80 }, () => event(n++)), 0, [{ tenant: '', category: 'sqli', action: 'blocked', count: 80 }]);
    await events.tick();
  }
  const kept = await storedEvents(store);
  t.ok(kept.length <= SECURITY_STORED_EVENTS, `${kept.length} kept, at most ${SECURITY_STORED_EVENTS}`);
  t.ok(kept.length >= SECURITY_STORED_EVENTS - 50, 'the ring is used, less at most one page');
  t.equal(kept.at(-1)!.requestId, `req-${n - 1}`, 'the newest is there');
  t.equal(new Set(kept.map((e) => e.id)).size, kept.length, 'ids are unique');
  t.match(kept[0]!.id, /^node-a-\d+$/);
  t.ok((await store.list(SECURITY_EVENTS_NAMESPACE)).size <= 20, 'at most 20 page records');
  t.equal(events.dropped, 0);
  const minute = (await store.list<SecurityMinute>(SECURITY_MINUTES_NAMESPACE)).values().next().value!.value;
  t.equal(minute.counts['']!.sqli!.blocked, 2400, 'every event counted');
  await store.close();
});

t.test('one tick stores a bounded number; the rest and what the workers dropped are counted', async (t) => {
  const store = await openStore();
  const events = new SecurityEventStore(store, log, () => NOW);
  events.add(Array.from({ length: STORED_PER_TICK + 30 }, (_, i) => event(i, 'acme')), 7, [{ tenant: 'acme', category: 'sqli', action: 'blocked', count: STORED_PER_TICK + 37 }]);
  await events.tick();
  const kept = await storedEvents(store);
  t.equal(kept.length, STORED_PER_TICK);
  t.equal(kept.at(-1)!.requestId, `req-${STORED_PER_TICK + 29}`, 'the newest are the ones kept');
  t.equal(events.dropped, 37, '30 over the tick, 7 from the worker');
  const minute = (await store.get<SecurityMinute>(SECURITY_MINUTES_NAMESPACE, `m${Math.floor(NOW / 60_000) % 60}`))!.value;
  t.same(minute, { minute: Math.floor(NOW / 60_000), counts: { acme: { sqli: { blocked: STORED_PER_TICK + 37, detected: 0 } } }, dropped: 37 });
  await store.close();
});

t.test('two writers on one store add to the same minute and share the page ring', async (t) => {
  const store = await openStore();
  const a = new SecurityEventStore(store, log, () => NOW);
  const b = new SecurityEventStore(store, log, () => NOW);
  a.add([event(1)], 0, [{ tenant: '', category: 'xss', action: 'blocked', count: 1 }]);
  b.add([event(2)], 0, [{ tenant: '', category: 'xss', action: 'detected', count: 2 }]);
  await Promise.all([a.tick(), b.tick()]);
  const minute = (await store.list<SecurityMinute>(SECURITY_MINUTES_NAMESPACE)).values().next().value!.value;
  t.same(minute.counts[''], { xss: { blocked: 1, detected: 2 } }, 'neither overwrote the other');
  t.equal((await storedEvents(store)).length, 2, 'each its own page');
  t.equal((await store.list(SECURITY_EVENTS_NAMESPACE)).size, 2);
  await store.close();
});

t.test('a minute from an hour ago in the same slot is replaced, not added to', async (t) => {
  const store = await openStore();
  let now = NOW;
  const events = new SecurityEventStore(store, log, () => now);
  events.add([], 0, [{ tenant: '', category: 'rce', action: 'blocked', count: 5 }]);
  await events.tick();
  now += 60 * 60_000;
  events.add([], 0, [{ tenant: '', category: 'rce', action: 'blocked', count: 1 }]);
  await events.tick();
  const records = await store.list<SecurityMinute>(SECURITY_MINUTES_NAMESPACE);
  t.equal(records.size, 1);
  t.same(records.values().next().value!.value.counts, { '': { rce: { blocked: 1, detected: 0 } } });
  await store.close();
});
