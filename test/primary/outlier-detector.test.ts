import t from 'tap';
import { pino } from 'pino';
import { OutlierDetector } from '../../src/primary/outlier-detector.js';
import { validateConfig } from '../../src/shared/config/load.js';

const log = pino({ level: 'silent' });

function configWith(backends: string[], outlierDetection: Record<string, unknown>) {
  return validateConfig(
    {
      server: { workers: 1 },
      pools: [{ name: 'web', outlierDetection, backends: backends.map((id, i) => ({ id, url: `http://127.0.0.1:${10_000 + i}` })) }],
      routes: [{ path: '/', pool: 'web' }],
    },
    'test',
    {},
  );
}

t.test('ejects a reported backend, readmits it after the ejection time, longer each time', async (t) => {
  let changes = 0;
  const detector = new OutlierDetector(log, () => changes++);
  t.teardown(() => detector.stop());
  detector.update(configWith(['a', 'b'], { consecutiveFailures: 3, baseEjectionTime: '150ms', maxEjectionTime: '10s', maxEjectionPercent: 50 }));

  detector.report('a', 3);
  t.same([...detector.ejected()], ['a']);
  t.equal(changes, 1);
  detector.report('a', 6);
  t.equal(changes, 1, 'a report while ejected changes nothing');
  await new Promise((r) => setTimeout(r, 220));
  t.same([...detector.ejected()], [], 'readmitted after 150 ms');
  t.equal(changes, 2);

  detector.report('a', 3);
  const second = detector.details().find((d) => d.id === 'a')!;
  t.equal(second.ejections, 2);
  await new Promise((r) => setTimeout(r, 200));
  t.same([...detector.ejected()], ['a'], 'the second ejection lasts 2 x 150 ms');
  await new Promise((r) => setTimeout(r, 150));
  t.same([...detector.ejected()], []);
});

t.test('never ejects more than maxEjectionPercent of a pool', async (t) => {
  const detector = new OutlierDetector(log, () => {});
  t.teardown(() => detector.stop());
  detector.update(configWith(['a', 'b', 'c', 'd'], { consecutiveFailures: 1, baseEjectionTime: '10s', maxEjectionPercent: 50 }));
  for (const id of ['a', 'b', 'c', 'd']) detector.report(id, 1);
  t.same([...detector.ejected()].sort(), ['a', 'b'], 'two of four (50%), the others stay in');
});

t.test('reports for backends without outlier detection are ignored; removed backends are forgotten', async (t) => {
  let changes = 0;
  const detector = new OutlierDetector(log, () => changes++);
  t.teardown(() => detector.stop());
  detector.report('a', 5);
  t.same([...detector.ejected()], []);
  detector.update(configWith(['a', 'b'], { consecutiveFailures: 1, baseEjectionTime: '10s', maxEjectionPercent: 100 }));
  detector.report('a', 1);
  t.same([...detector.ejected()], ['a']);
  detector.update(configWith(['b'], { consecutiveFailures: 1, baseEjectionTime: '10s', maxEjectionPercent: 100 }));
  t.same([...detector.ejected()], [], 'a removed backend is no longer ejected');
  t.equal(changes, 2, 'and the change is published');
});
