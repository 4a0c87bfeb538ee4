/** How numbers, durations and times read on every page. */

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

export function formatCount(n: number | null | undefined): string {
  return n == null ? '–' : integer.format(n);
}

/** Rates and small values: one decimal below 100. */
export function formatRate(n: number | null | undefined): string {
  if (n == null) return '–';
  return Math.abs(n) < 100 ? decimal.format(n) : integer.format(n);
}

export function formatMs(ms: number | null | undefined): string {
  if (ms == null) return '–';
  if (ms >= 1000) return `${decimal.format(ms / 1000)} s`;
  return ms < 10 ? `${decimal.format(ms)} ms` : `${integer.format(ms)} ms`;
}

/** A configured duration (ms): `250 ms`, `5 s`, `2 min`. */
export function formatDurationMs(ms: number): string {
  if (ms < 1000) return `${integer.format(ms)} ms`;
  if (ms < 120_000 || ms % 60_000 !== 0) return `${decimal.format(ms / 1000)} s`;
  return `${integer.format(ms / 60_000)} min`;
}

/** A setting's camelCase name as words: `maxConnectionsPerBackend` → `Max connections per backend`; a `Ms` unit suffix is dropped. */
export function settingName(key: string): string {
  const words = key.replace(/Ms$/, '').replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function formatPercent(ratio: number | null | undefined): string {
  if (ratio == null) return '–';
  return `${ratio * 100 < 10 ? decimal.format(ratio * 100) : integer.format(ratio * 100)} %`;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${decimal.format(n)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min ${Math.floor(seconds % 60)} s`;
  return `${Math.floor(seconds)} s`;
}

/** "12 s ago" for recent moments, the local time otherwise. */
export function formatAgo(at: string | number | Date, now: number): string {
  const t = new Date(at).getTime();
  if (Number.isNaN(t)) return '–';
  const s = Math.round((now - t) / 1000);
  if (s < 0) return 'just now';
  if (s < 90) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return new Date(t).toLocaleString();
}

export function formatTime(ms: number): string {
  return new Date(ms).toLocaleTimeString();
}
