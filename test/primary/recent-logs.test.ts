/**
 * The recent-log ring behind GET /api/admin/logs: bounded by line count and by bytes (the oldest
 * lines go first), filtered by minimum level, limited to the newest N (newest last), `since`
 * keeping only later lines, oversized and broken lines handled, and the drop count kept.
 */
import t from 'tap';
import { RecentLogs } from '../../src/primary/recent-logs.js';

const T0 = Date.parse('2025-03-01T12:00:00.000Z');
const line = (n: number, level = 30, extra: Record<string, unknown> = {}) => JSON.stringify({ level, time: T0 + n * 1000, pid: 10, role: 'worker', worker: 1, msg: `line ${n}`, ...extra });
const msgs = (page: { lines: Record<string, unknown>[] }) => page.lines.map((l) => l.msg);

t.test('keeps at most maxLines, dropping the oldest', async (t) => {
  const logs = new RecentLogs({ maxLines: 3 });
  for (let n = 1; n <= 5; n++) logs.add(line(n));
  t.equal(logs.size, 3);
  t.same(msgs(logs.query()), ['line 3', 'line 4', 'line 5'], 'newest last');
  t.equal(logs.query().dropped, 0, 'evicting old lines is not dropping: that is the bound working');
});

t.test('keeps at most maxBytes, whichever bound comes first', async (t) => {
  const size = Buffer.byteLength(line(1));
  const logs = new RecentLogs({ maxLines: 100, maxBytes: size * 3 + 10 });
  for (let n = 1; n <= 6; n++) logs.add(line(n));
  t.equal(logs.size, 3, 'three lines fit in the bytes, not four');
  t.ok(logs.bytes <= size * 3 + 10);
  t.same(msgs(logs.query()), ['line 4', 'line 5', 'line 6']);
  // One big line (still under the bound alone) pushes out as many old ones as it needs.
  logs.add(line(7, 30, { detail: 'x'.repeat(size * 2 - 40) }));
  t.same(msgs(logs.query()), ['line 7']);
});

t.test('a line longer than maxLineBytes keeps its level, time, origin and the start of its message', async (t) => {
  const logs = new RecentLogs({ maxLineBytes: 2000 });
  logs.add(line(1, 50, { err: { stack: 'y'.repeat(5000) }, msg: 'z'.repeat(3000) }));
  const [kept] = logs.query().lines;
  t.match(kept, { level: 50, time: T0 + 1000, pid: 10, role: 'worker', worker: 1, truncated: true });
  t.equal(kept!.err, undefined);
  t.equal((kept!.msg as string).length, 1025, '1024 characters and an ellipsis');
  t.ok(logs.bytes < 2000);
});

t.test('level is a minimum; limit takes the newest; since keeps only later lines', async (t) => {
  const logs = new RecentLogs();
  const levels = [30, 40, 50, 30, 60, 40, 30, 50];
  levels.forEach((level, n) => logs.add(line(n, level)));
  t.same(msgs(logs.query({ level: 'warn' })), ['line 1', 'line 2', 'line 4', 'line 5', 'line 7']);
  t.same(msgs(logs.query({ level: 'error' })), ['line 2', 'line 4', 'line 7']);
  t.same(msgs(logs.query({ level: 'fatal' })), ['line 4']);
  t.equal(logs.query({ level: 'trace' }).lines.length, 8);
  t.same(msgs(logs.query({ level: 'warn', limit: 2 })), ['line 5', 'line 7'], 'the newest two, newest last');
  t.same(msgs(logs.query({ since: new Date(T0 + 5000).toISOString() })), ['line 6', 'line 7'], 'after 12:00:05, not at it');
  t.same(msgs(logs.query({ since: new Date(T0 + 2000).toISOString(), level: 'error', limit: 1 })), ['line 7']);
  t.equal(logs.query().lines.length, 8, 'default limit 100');
  for (let n = 8; n < 1500; n++) logs.add(line(n));
  t.equal(logs.query().lines.length, 100);
  t.equal(logs.query({ limit: 1000 }).lines.length, 1000);
  t.equal(logs.query({ limit: 1000 }).lines.at(-1)!.msg, 'line 1499');
});

t.test('bad queries are validation errors (400), not empty answers', async (t) => {
  const logs = new RecentLogs();
  for (const query of [{ level: 'loud' }, { level: 'toString' }, { limit: 0 }, { limit: 1001 }, { limit: 2.5 }, { since: 'yesterday' }]) {
    t.throws(() => logs.query(query), { name: 'VelofluxError', code: 'VF_ERR_VALIDATION', status: 400 }, JSON.stringify(query));
  }
});

t.test('lines come back in the order they were logged, across the primary and batched workers', async (t) => {
  const logs = new RecentLogs();
  logs.add(line(2, 30, { role: 'primary', msg: 'primary at 2' }));
  // A worker batch arrives after the primary's line, with a line logged before it.
  logs.addBatch([line(1, 30, { msg: 'worker at 1' }), line(3, 30, { msg: 'worker at 3' })], 4);
  t.same(msgs(logs.query()), ['worker at 1', 'primary at 2', 'worker at 3']);
  logs.add(line(3, 30, { msg: 'primary also at 3' }));
  t.same(msgs(logs.query({ limit: 2 })), ['worker at 3', 'primary also at 3'], 'within one millisecond, arrival order');
  t.equal(logs.query().dropped, 4, 'what the worker had to drop is reported');
});

t.test('lines that are not JSON objects count as dropped; sink feeds add', async (t) => {
  const logs = new RecentLogs();
  logs.add('not json');
  logs.add('[1,2]');
  logs.add('null');
  logs.sink(line(1));
  t.same(msgs(logs.query()), ['line 1']);
  t.equal(logs.dropped, 3);
  const noTime = new RecentLogs();
  noTime.add('{"msg":"no level or time"}');
  t.equal(noTime.query({ level: 'info' }).lines.length, 1, 'a line without a level counts as info');
  t.throws(() => new RecentLogs({ maxLines: 0 }), RangeError);
});
