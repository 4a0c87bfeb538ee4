// `--mode all` for the single-process comparison proxies (baseline, fastify): runs a proxy script
// in as many node:cluster workers as VeloFlux has, so a row compares like with like.
// `node dist/bench/cluster.js --workers N -- <script.js> [script args]`; prints {"port": N} once
// every worker listens (workers calling listen(0) share one port through the primary).
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ options: { workers: { type: 'string' } }, allowPositionals: true, strict: true });
const [script, ...args] = positionals;
const workers = Number(values.workers);
if (script === undefined || !(workers >= 1)) throw new Error('cluster: usage: --workers N -- <script.js> [args]');

// The workers' own {"port"} lines are silenced: the harness reads one line, after all are up.
cluster.setupPrimary({ exec: script, args, silent: true });
let listening = 0;
for (let i = 0; i < workers; i++) {
  const worker = cluster.fork();
  worker.process.stderr?.pipe(process.stderr);
  worker.on('listening', (address) => {
    listening += 1;
    if (listening === workers) process.stdout.write(`${JSON.stringify({ port: address.port, workers })}\n`);
  });
}
cluster.on('exit', (worker, code, signal) => {
  process.stderr.write(`cluster: worker ${worker.process.pid} exited (${signal ?? code})\n`);
  process.exit(1);
});
process.once('SIGTERM', () => process.exit(0));
