import t from 'tap';
import { parseDuration, parseSize } from '../../src/shared/duration.js';

t.test('durations', async (t) => {
  t.equal(parseDuration('250ms'), 250);
  t.equal(parseDuration('5s'), 5000);
  t.equal(parseDuration('1.5s'), 1500);
  t.equal(parseDuration('2m'), 120_000);
  t.equal(parseDuration('1h'), 3_600_000);
  t.equal(parseDuration('7d'), 604_800_000, 'days, for token lifetimes');
  for (const bad of ['', '5', 's', '5 sec', '-1s', '5S', '1w']) t.equal(parseDuration(bad), undefined, `rejects "${bad}"`);
});

t.test('sizes', async (t) => {
  t.equal(parseSize(1024), 1024);
  t.equal(parseSize('16kb'), 16384);
  t.equal(parseSize('10MB'), 10 * 1024 * 1024);
  t.equal(parseSize('1gb'), 1024 ** 3);
  t.equal(parseSize('512'), 512);
  for (const bad of ['', 'kb', '1tb', '-5', '1.5.5mb']) t.equal(parseSize(bad), undefined, `rejects "${bad}"`);
  t.equal(parseSize(1.5), undefined);
  t.equal(parseSize(-1), undefined);
});
