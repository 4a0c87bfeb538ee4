/** Durations (`250ms`, `5s`, `2m`, `1h`, `7d`) and sizes (`512kb`, `10mb`, `1gb`, or bytes) as config writes them. */

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const DURATION_UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Milliseconds for a duration string, or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * DURATION_UNIT_MS[m[2] as keyof typeof DURATION_UNIT_MS]);
}

const SIZE = /^(\d+(?:\.\d+)?)(b|kb|mb|gb)?$/i;
const SIZE_UNIT_BYTES = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 } as const;

/** Bytes for a size string or number, or undefined when it is not one. */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  const m = SIZE.exec(value.trim());
  if (!m) return undefined;
  const unit = (m[2] ?? 'b').toLowerCase() as keyof typeof SIZE_UNIT_BYTES;
  return Math.round(Number(m[1]) * SIZE_UNIT_BYTES[unit]);
}
