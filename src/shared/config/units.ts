/** Durations (`250ms`, `5s`, `2m`: milliseconds after parsing) and sizes (`16kb`, `1gb`: bytes) as config fields. */
import { z } from 'zod';
import { parseDuration, parseSize } from '../duration.js';

export const duration = z
  .string()
  .transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `invalid duration "${text}" (expected e.g. 250ms, 5s, 2m)` });
      return z.NEVER;
    }
    return ms;
  });

export const size = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const bytes = parseSize(value);
  if (bytes === undefined) {
    ctx.addIssue({ code: 'custom', message: `invalid size "${value}" (expected bytes or e.g. 16kb, 10mb, 1gb)` });
    return z.NEVER;
  }
  return bytes;
});

