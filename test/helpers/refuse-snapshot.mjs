/**
 * Fault injection for tests, loaded into a VeloFlux process with
 * NODE_OPTIONS=--import=<this file> and VELOFLUX_TEST_REFUSE_POOL=<pool name>: worker 1 answers
 * a `prepare` whose config has that pool as a worker that cannot build it would
 * (`snapshot-failed`), and its own handler never sees the message. Real refusals need a fault
 * that hits one worker only (a file gone between two reads, a worker out of memory), which a
 * test cannot cause on demand; the primary's side of the protocol is what these tests prove.
 */
import cluster from 'node:cluster';

const pool = process.env.VELOFLUX_TEST_REFUSE_POOL;
if (cluster.isWorker && cluster.worker?.id === 1 && pool) {
  const emit = process.emit;
  process.emit = function (event, message, ...rest) {
    if (event === 'message' && message?.type === 'prepare' && message.snapshot.config.pools.some((p) => p.name === pool)) {
      process.send({ v: message.v, type: 'snapshot-failed', configVersion: message.snapshot.version, reason: `refusing pool "${pool}"` });
      return true;
    }
    return emit.call(this, event, message, ...rest);
  };
}
