import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlineWheel, type Expirable } from '../../src/workers/deadline-wheel.js';

/** One tick (250 ms) plus room for a loaded machine. */
const PAST_ONE_TICK_MS = 400;

class Entry implements Expirable {
  deadline: number;
  previousOnWheel: Expirable | undefined = undefined;
  nextOnWheel: Expirable | undefined = undefined;
  expired = 0;
  onExpire: (() => void) | undefined;

  constructor(inMs: number) {
    this.deadline = performance.now() + inMs;
  }

  expire(): void {
    this.expired++;
    this.onExpire?.();
  }
}

t.test('an entry past its deadline is expired within a tick; one not yet due waits', async (t) => {
  const wheel = new DeadlineWheel();
  const due = new Entry(0);
  const later = new Entry(60_000);
  wheel.add(due);
  wheel.add(later);
  await sleep(PAST_ONE_TICK_MS);
  t.equal(due.expired, 1, 'expired once');
  t.equal(later.expired, 0, 'not due yet');
  t.equal(wheel.size, 1, 'the expired entry left the wheel');
  wheel.delete(later);
  t.equal(wheel.size, 0);
});

t.test('a deleted entry is never expired and keeps no links to its neighbours', async (t) => {
  const wheel = new DeadlineWheel();
  const [first, middle, last] = [new Entry(0), new Entry(0), new Entry(0)];
  for (const entry of [first, middle, last]) wheel.add(entry);
  wheel.delete(middle);
  t.equal(middle.previousOnWheel, undefined, 'no link back');
  t.equal(middle.nextOnWheel, undefined, 'no link forward: a finished, promoted request cannot keep younger ones alive');
  t.equal(first.nextOnWheel, last, 'its neighbours are joined');
  t.equal(last.previousOnWheel, first);
  wheel.delete(middle);
  t.equal(wheel.size, 2, 'deleting an entry that is not on the wheel changes nothing');
  await sleep(PAST_ONE_TICK_MS);
  t.same([first.expired, middle.expired, last.expired], [1, 0, 1]);
  t.equal(first.nextOnWheel, undefined, 'expired entries are unlinked too');
});

t.test('adding an entry twice keeps one place on the wheel', async (t) => {
  const wheel = new DeadlineWheel();
  const only = new Entry(0);
  wheel.add(only);
  wheel.add(only);
  t.equal(wheel.size, 1);
  await sleep(PAST_ONE_TICK_MS);
  t.equal(only.expired, 1, 'expired once');
});

t.test('expire() may put its entry back (a WebSocket idle check) or remove another due entry', async (t) => {
  const wheel = new DeadlineWheel();
  const recurring = new Entry(0);
  recurring.onExpire = () => {
    if (recurring.expired < 2) {
      recurring.deadline = performance.now();
      wheel.add(recurring);
    }
  };
  const victim = new Entry(0);
  const killer = new Entry(0);
  killer.onExpire = () => wheel.delete(victim);
  wheel.add(recurring);
  wheel.add(killer);
  wheel.add(victim);
  await sleep(2 * PAST_ONE_TICK_MS);
  t.equal(recurring.expired, 2, 'expired again after adding itself back');
  t.equal(killer.expired, 1);
  t.equal(victim.expired, 0, 'removed by an earlier expire() in the same tick: not expired');
  t.equal(wheel.size, 0);
});
