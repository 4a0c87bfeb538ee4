/** Every problem `validateConfig` finds in a config, as `path: message` lines (none: []). */
import { ConfigError, validateConfig } from '../../src/shared/config/load.js';
import { formatProblem } from '../../src/shared/config/problems.js';

export function configProblems(raw: Record<string, unknown>): string[] {
  try {
    validateConfig(raw, 'test.yaml', {});
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map(formatProblem);
    throw err;
  }
  return [];
}
