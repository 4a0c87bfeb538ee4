/**
 * A set of callbacks for one kind of event (state changes, status transitions): add returns the
 * unsubscribe, and emit calls every listener even when one throws, so a faulty listener neither
 * starves the others nor breaks the emitter's own work (a flush loop, a Redis reader). What a
 * listener throws goes to `onError`; by default it is rethrown on a later tick, where it surfaces
 * like any uncaught error.
 */
export class Listeners<T> {
  readonly #set = new Set<(value: T) => void>();
  readonly #onError: (err: unknown) => void;

  constructor(onError: (err: unknown) => void = (err) => queueMicrotask(() => { throw err; })) {
    this.#onError = onError;
  }

  add(listener: (value: T) => void): () => void {
    this.#set.add(listener);
    return () => this.#set.delete(listener);
  }

  emit(value: T): void {
    for (const listener of this.#set) {
      try {
        listener(value);
      } catch (err) {
        this.#onError(err);
      }
    }
  }

  clear(): void {
    this.#set.clear();
  }
}
