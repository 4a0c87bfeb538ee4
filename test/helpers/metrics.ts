/** Reading the primary's Prometheus exposition (server.metrics) in tests. */
import type { RunningVeloflux } from './veloflux.js';

/** The bound metrics port, from the primary's "veloflux ready" line. */
export function metricsPort(vf: RunningVeloflux): number {
  return (vf.logs().find((l) => l.msg === 'veloflux ready')!.metrics as { port: number }).port;
}

/** Sample values by series text (`name{labels}`) from an exposition. */
export function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

/** The samples of `vf`'s /metrics now. */
export async function scrape(vf: RunningVeloflux): Promise<Map<string, number>> {
  return samples(await (await fetch(`http://127.0.0.1:${metricsPort(vf)}/metrics`)).text());
}
