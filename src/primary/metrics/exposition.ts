/** The Prometheus text exposition format (version 0.0.4): families with HELP, TYPE and samples. */
import type { HistogramReport } from '../../shared/metrics-report.js';

export type Labels = Record<string, string>;

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  if (extra !== undefined) pairs.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

function number(value: number): string {
  if (value === Infinity) return '+Inf';
  return Number.isInteger(value) ? String(value) : String(Math.round(value * 1e9) / 1e9);
}

export class Exposition {
  #lines: string[] = [];

  #header(name: string, type: string, help: string): void {
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  }

  /** A counter or gauge family; an empty sample list still declares the family. */
  family(name: string, type: 'counter' | 'gauge', help: string, samples: readonly { labels: Labels; value: number }[]): this {
    this.#header(name, type, help);
    for (const s of samples) this.#lines.push(`${name}${labelText(s.labels)} ${number(s.value)}`);
    return this;
  }

  /** Several counter or gauge families in a row. */
  families(list: readonly { name: string; type: 'counter' | 'gauge'; help: string; samples: readonly { labels: Labels; value: number }[] }[]): this {
    for (const f of list) this.family(f.name, f.type, f.help, f.samples);
    return this;
  }

  /** A histogram family from per-bucket counts (made cumulative here). */
  histogram(name: string, help: string, bounds: readonly number[], samples: readonly { labels: Labels; histogram: HistogramReport }[]): this {
    this.#header(name, 'histogram', help);
    for (const { labels, histogram } of samples) {
      let cumulative = 0;
      bounds.forEach((le, i) => {
        cumulative += histogram.counts[i] ?? 0;
        this.#lines.push(`${name}_bucket${labelText(labels, ['le', number(le)])} ${cumulative}`);
      });
      this.#lines.push(`${name}_bucket${labelText(labels, ['le', '+Inf'])} ${histogram.count}`);
      this.#lines.push(`${name}_sum${labelText(labels)} ${number(histogram.sum)}`);
      this.#lines.push(`${name}_count${labelText(labels)} ${histogram.count}`);
    }
    return this;
  }

  text(): string {
    return `${this.#lines.join('\n')}\n`;
  }
}
