/**
 * Polls `probe` until it gives a value (not undefined), then returns it; a probe that throws
 * counts as "not yet". Fails with `what` after `timeoutMs`: tests wait for conditions, never for
 * fixed times, so a slow machine only makes them slower.
 */
export async function until<T>(what: string | (() => string), timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await Promise.resolve()
      .then(probe)
      .catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
