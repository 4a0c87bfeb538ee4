/**
 * The calls waiting for a connection, first in first out: a ring buffer that grows by doubling
 * (as undici's fixed-queue), so taking the next call never shifts an array. A call aborted while
 * waiting is only marked (`waiting` false) and skipped when its turn comes, so no search either.
 */
import type { UpstreamCall } from './upstream-call.js';

const INITIAL_CAPACITY = 16;

export class CallQueue {
  #slots: (UpstreamCall | undefined)[] = new Array<UpstreamCall | undefined>(INITIAL_CAPACITY);
  #head = 0;
  /** Slots in use, aborted calls not yet skipped included. */
  #count = 0;
  /** Calls still waiting. */
  #live = 0;

  get length(): number {
    return this.#live;
  }

  push(call: UpstreamCall): void {
    call.waiting = true;
    if (this.#count === this.#slots.length) this.#grow();
    this.#slots[(this.#head + this.#count) % this.#slots.length] = call;
    this.#count++;
    this.#live++;
  }

  /** Puts `call` first: it waited before (it is being sent again). */
  unshift(call: UpstreamCall): void {
    call.waiting = true;
    if (this.#count === this.#slots.length) this.#grow();
    this.#head = (this.#head - 1 + this.#slots.length) % this.#slots.length;
    this.#slots[this.#head] = call;
    this.#count++;
    this.#live++;
  }

  /** Takes `call` out of the line if it waits there (it is skipped when its slot comes up). */
  forget(call: UpstreamCall): void {
    if (!call.waiting) return;
    call.waiting = false;
    this.#live--;
  }

  /** The next call still waiting; undefined when none is. */
  shift(): UpstreamCall | undefined {
    while (this.#count > 0) {
      const call = this.#slots[this.#head]!;
      this.#slots[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.#slots.length;
      this.#count--;
      if (call.waiting) {
        call.waiting = false;
        this.#live--;
        return call;
      }
    }
    return undefined;
  }

  /** Empties the queue, returning the calls still waiting. */
  drain(): UpstreamCall[] {
    const waiting: UpstreamCall[] = [];
    for (let call = this.shift(); call !== undefined; call = this.shift()) waiting.push(call);
    return waiting;
  }

  #grow(): void {
    const slots = new Array<UpstreamCall | undefined>(this.#slots.length * 2);
    for (let i = 0; i < this.#count; i++) slots[i] = this.#slots[(this.#head + i) % this.#slots.length];
    this.#slots = slots;
    this.#head = 0;
  }
}
