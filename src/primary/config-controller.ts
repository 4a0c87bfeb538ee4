/**
 * The one path every config change takes, whatever asked for it (admin API, SIGHUP): compute
 * the effective config (config-source.ts has the precedence rules), validate it whole, apply it
 * on every worker or none, persist the runtime state, audit. Changes are serialised, so two
 * operators never interleave, and the running config is untouched by anything that fails.
 */
import type { Logger } from '../shared/log.js';
import { ConfigError, validateConfig } from '../shared/config/load.js';
import type { VelofluxConfig } from '../shared/config/schema.js';
import { VelofluxError } from '../shared/errors.js';
import type { ConfigSnapshot } from '../shared/ipc.js';
import type { Actor, AuditLog } from './audit-log.js';
import { effectiveDynamic, etagOf, readConfigSource, readRuntimeState, stateFilePath, writeRuntimeState, type ConfigFile, type RuntimeState } from './config-source.js';
import { emptyOverlay, findBackend, withOperation, type DynamicInput, type RuntimeOperation } from './runtime-overlay.js';
import { changedPaths } from './static-diff.js';

export interface ChangeResult {
  configVersion: number;
  etag: string;
  /** Static settings that differ from the running ones: they take effect after a restart. */
  needsRestart: string[];
  /** Runtime changes that no longer fit the base config and were not applied. */
  skipped: string[];
}

/** Applies a validated config to the running system; the supervisor in production. */
export interface ConfigApplier {
  readonly committed: ConfigSnapshot;
  nextVersion(): number;
  apply(snapshot: ConfigSnapshot): Promise<void>;
}

interface Effective {
  file: ConfigFile;
  state: RuntimeState;
  dynamic: DynamicInput;
  config: Readonly<VelofluxConfig>;
  skipped: string[];
}

export class ConfigController {
  #current: Effective;
  #etag: string;
  #applier: ConfigApplier | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  readonly #audit: AuditLog;
  readonly #log: Logger;

  private constructor(current: Effective, audit: AuditLog, log: Logger) {
    this.#current = current;
    this.#etag = etagOf(current.dynamic);
    this.#audit = audit;
    this.#log = log;
  }

  /** Loads the file and the persisted runtime state; throws ConfigError when the result is invalid. */
  static async load(configPath: string, makeAudit: (dataDir: string) => AuditLog, log: Logger): Promise<ConfigController> {
    const file = await readConfigSource(configPath);
    // dataDir is static and needed before the state can be read: validate the file alone first.
    const fileConfig = validateConfig({ server: file.rawServer, ...file.dynamic }, configPath);
    const state = await readRuntimeState(fileConfig.server.dataDir);
    const current = resolve(file, state, configPath);
    for (const note of current.skipped) log.warn({ note }, 'runtime change no longer applies');
    return new ConfigController(current, makeAudit(current.config.server.dataDir), log);
  }

  get audit(): AuditLog {
    return this.#audit;
  }

  /** The config the workers start with. */
  get config(): Readonly<VelofluxConfig> {
    return this.#current.config;
  }

  get dynamic(): DynamicInput {
    return this.#current.dynamic;
  }

  get etag(): string {
    return this.#etag;
  }

  attach(applier: ConfigApplier): void {
    this.#applier = applier;
  }

  /** Changes applied and refused (any source), and whether the last one applied: for /metrics. */
  readonly changeCounts = { success: 0, failure: 0, lastSucceeded: true };

  /** Called with the config in force after every applied change (the health checker follows it). */
  onApplied: (config: Readonly<VelofluxConfig>) => void = () => {};

  /** PUT /admin/config: a whole new dynamic config, guarded by the ETag it was based on. */
  replace(dynamic: DynamicInput, ifMatch: string | undefined, actor: Actor): Promise<ChangeResult> {
    return this.#serialised(async () => {
      let precondition: VelofluxError | undefined;
      if (ifMatch === undefined) precondition = new VelofluxError('VF_ERR_PRECONDITION_REQUIRED');
      else if (ifMatch !== this.#etag && ifMatch !== '*') precondition = new VelofluxError('VF_ERR_PRECONDITION_FAILED', `the config changed: current ETag is ${this.#etag}`);
      if (precondition !== undefined) {
        this.#reject(actor, 'config.replace', undefined, precondition);
        throw precondition;
      }
      const file = this.#current.file;
      const state: RuntimeState = { apiBase: { dynamic, fileHash: file.hash }, overlay: emptyOverlay() };
      return this.#commit(file, state, actor, 'config.replace', undefined);
    });
  }

  /** POST /admin/reload and SIGHUP: re-read the file; runtime changes are re-applied on top. */
  reload(actor: Actor): Promise<ChangeResult> {
    return this.#serialised(async () => {
      const file = await readConfigSource(this.#current.file.path).catch((err: unknown) => {
        this.#reject(actor, 'config.reload', undefined, err);
        throw err;
      });
      return this.#commit(file, this.#current.state, actor, 'config.reload', undefined);
    });
  }

  /** Drain/undrain, weight, add or remove a backend. */
  operate(op: RuntimeOperation, actor: Actor): Promise<ChangeResult> {
    return this.#serialised(async () => {
      const target = op.kind === 'add' ? `${op.pool}/${op.backend.id}` : op.backendId;
      const action = `backend.${op.kind === 'drain' ? (op.drain ? 'drain' : 'undrain') : op.kind}`;
      const dynamic = this.#current.dynamic;
      let problem: VelofluxError | undefined;
      if (op.kind === 'add') {
        if (!dynamic.pools.some((p) => p.name === op.pool)) problem = new VelofluxError('VF_ERR_POOL_NOT_FOUND', `no pool named "${op.pool}"`);
        else if (findBackend(dynamic, op.backend.id) !== undefined) problem = new VelofluxError('VF_ERR_BACKEND_EXISTS', `backend "${op.backend.id}" already exists`);
      } else if (findBackend(dynamic, op.backendId) === undefined) {
        problem = new VelofluxError('VF_ERR_BACKEND_NOT_FOUND', `no backend with id "${op.backendId}"`);
      }
      if (problem !== undefined) {
        this.#reject(actor, action, target, problem);
        throw problem;
      }
      const state: RuntimeState = { ...this.#current.state, overlay: withOperation(this.#current.state.overlay, op) };
      return this.#commit(this.#current.file, state, actor, action, target);
    });
  }

  /** POST /admin/validate: every problem of a candidate dynamic config, nothing applied. */
  validate(dynamic: DynamicInput): { valid: boolean; problems: string[] } {
    try {
      validateConfig({ server: this.#current.file.rawServer, ...dynamic }, 'candidate');
      return { valid: true, problems: [] };
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return { valid: false, problems: err.message.split('\n').slice(1).map((line) => line.trim()) };
    }
  }

  #serialised<T>(task: () => Promise<T>): Promise<T> {
    const counted = () =>
      task().then(
        (result) => {
          this.changeCounts.success++;
          this.changeCounts.lastSucceeded = true;
          return result;
        },
        (err: unknown) => {
          this.changeCounts.failure++;
          this.changeCounts.lastSucceeded = false;
          throw err;
        },
      );
    const run = this.#chain.then(counted, counted);
    this.#chain = run.catch(() => {});
    return run;
  }

  async #commit(file: ConfigFile, state: RuntimeState, actor: Actor, action: string, target: string | undefined): Promise<ChangeResult> {
    const applier = this.#applier;
    if (applier === undefined) throw new VelofluxError('VF_ERR_INTERNAL', 'no workers to apply the config to yet');
    let next: Effective;
    try {
      next = resolve(file, state, file.path);
    } catch (err) {
      this.#reject(actor, action, target, err);
      throw err;
    }
    const previous = applier.committed;
    const running = previous.config;
    // Static settings keep their running values until a restart; the rest is swapped in.
    const config = Object.freeze({ ...next.config, server: running.server });
    const snapshot: ConfigSnapshot = { version: applier.nextVersion(), config, stickySecret: previous.stickySecret };
    try {
      await applier.apply(snapshot);
    } catch (err) {
      this.#audit.record({ actor, action, target, outcome: 'failed', detail: (err as Error).message });
      throw err;
    }
    if (JSON.stringify(this.#current.state) !== JSON.stringify(next.state)) {
      try {
        await writeRuntimeState(running.server.dataDir, next.state);
      } catch (err) {
        // Applied but not saved would be lost on the next restart while the caller was told
        // otherwise: undo it on the workers, so "applied" always means "applied and persisted"
        // (and the state file only ever holds configs every worker accepted).
        const reason = `could not save ${stateFilePath(running.server.dataDir)}: ${(err as Error).message}`;
        await applier.apply({ ...previous, version: applier.nextVersion() }).catch((rollbackErr: unknown) => this.#log.error({ err: rollbackErr }, 'rolling back an unsaved change failed'));
        this.#audit.record({ actor, action, target, outcome: 'failed', detail: reason });
        throw new VelofluxError('VF_ERR_PERSIST_FAILED', `${reason}; the change was rolled back on every worker`);
      }
    }
    this.#current = { ...next, config };
    this.#etag = etagOf(next.dynamic);
    const needsRestart = changedPaths(running.server, next.config.server);
    if (needsRestart.length > 0) this.#log.warn({ needsRestart }, 'static settings changed in the file: they take effect after a restart');
    this.onApplied(config);
    const result: ChangeResult = { configVersion: snapshot.version, etag: this.#etag, needsRestart, skipped: next.skipped };
    this.#audit.record({ actor, action, target, outcome: 'applied', configVersion: snapshot.version, detail: { needsRestart, skipped: next.skipped } });
    return result;
  }

  #reject(actor: Actor, action: string, target: string | undefined, err: unknown): void {
    const detail = err instanceof ConfigError ? err.problems.length + ' problem(s)' : (err as Error).message;
    this.#audit.record({ actor, action, target, outcome: 'rejected', detail });
  }
}

/** The effective config for a file and runtime state; throws ConfigError listing every problem. */
function resolve(file: ConfigFile, state: RuntimeState, source: string): Effective {
  const { dynamic, skipped, baseIsFile } = effectiveDynamic(file, state);
  const config = validateConfig({ server: file.rawServer, ...dynamic }, source);
  // A PUT base superseded by an edited file is dropped, so the state file says what is in force.
  const effectiveState: RuntimeState = baseIsFile ? { ...state, apiBase: null } : state;
  return { file, state: effectiveState, dynamic, config, skipped };
}
