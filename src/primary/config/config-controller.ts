/**
 * The one path every config change takes, whatever asked for it (admin API, SIGHUP): compute
 * the effective config (config-source.ts has the precedence rules), validate it whole, persist
 * the runtime state, apply it on every worker or none, audit. Changes are serialised, so two
 * operators never interleave, and the running config is untouched by anything that fails.
 *
 * The runtime state is a record of the state store. With Redis it is shared: a change committed
 * by another instance arrives as a change event and is applied here the same way (validated,
 * on every worker or none), and a write based on an older version is refused, not merged.
 */
import type { Logger } from '../../shared/log.js';
import { ConfigError, validateConfig } from '../../shared/config/load.js';
import { formatProblem } from '../../shared/config/problems.js';
import type { VelofluxConfig } from '../../shared/config/schema.js';
import { VelofluxError } from '../../shared/errors.js';
import type { ConfigSnapshot } from '../../shared/ipc.js';
import type { Actor, AuditEntry, AuditLog } from '../audit-log.js';
import { BackendAddressCheck } from './backend-address-check.js';
import type { StateChange, StateStore } from '../../shared/state/store.js';
import { effectiveDynamic, emptyRuntimeState, etagOf, parseRuntimeState, readConfigSource, RUNTIME_STATE_KEY, type ConfigFile, type RuntimeState } from './config-source.js';
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

/** What a backend change adds to its audit entries: the URL and the address policy's verdict. */
type AuditDetail = Pick<AuditEntry, 'url' | 'addressPolicy'>;

interface Effective {
  file: ConfigFile;
  state: RuntimeState;
  dynamic: DynamicInput;
  config: Readonly<VelofluxConfig>;
  skipped: string[];
}

export class ConfigController {
  #current: Effective;
  /** Version of the runtime state record `#current.state` came from; undefined while unknown (Redis down at start). */
  #stateVersion: number | undefined;
  #etag: string;
  #applier: ConfigApplier | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  /** A saved change the workers refused that could not be written back yet (see #commit). */
  #unrestored: { state: RuntimeState; refusedVersion: number } | undefined;
  readonly #audit: AuditLog;
  readonly #log: Logger;
  readonly #store: StateStore;

  private constructor(current: Effective, stateVersion: number | undefined, store: StateStore, audit: AuditLog, log: Logger) {
    this.#current = current;
    this.#stateVersion = stateVersion;
    this.#etag = etagOf(current.dynamic);
    this.#store = store;
    this.#audit = audit;
    this.#log = log;
  }

  /**
   * Loads the file, opens the state store it configures and reads the runtime state from it;
   * throws ConfigError when the result is invalid. With Redis unreachable at start, the file
   * alone is served until the shared state can be read (then it is applied like any change).
   */
  static async load(configPath: string, openStore: (config: Readonly<VelofluxConfig>) => Promise<StateStore>, makeAudit: (dataDir: string) => AuditLog, log: Logger): Promise<ConfigController> {
    const file = await readConfigSource(configPath);
    // dataDir and redis are static and needed before the state can be read: validate the file alone first.
    const fileConfig = validateConfig({ server: file.rawServer, ...file.dynamic }, configPath);
    const store = await openStore(fileConfig);
    let record: { value: unknown; version: number } | undefined;
    let stateVersion: number | undefined = 0;
    try {
      record = await store.get(RUNTIME_STATE_KEY.namespace, RUNTIME_STATE_KEY.id);
      stateVersion = record?.version ?? 0;
    } catch (err) {
      if ((err as VelofluxError).code !== 'VF_ERR_STATE_UNAVAILABLE') throw err;
      stateVersion = undefined;
      log.warn({ err: (err as Error).message }, 'state store unavailable at start: serving the config file alone until it answers');
    }
    const state = record === undefined ? emptyRuntimeState() : parseRuntimeState(record.value, `state ${RUNTIME_STATE_KEY.namespace}/${RUNTIME_STATE_KEY.id}`);
    const current = resolve(file, state, configPath);
    for (const note of current.skipped) log.warn({ note }, 'runtime change no longer applies');
    const controller = new ConfigController(current, stateVersion, store, makeAudit(current.config.server.dataDir), log);
    store.onChange((change) => controller.#onStateChange(change));
    store.onStatus((status) => {
      // While Redis is away its versions are unknown here (it may even come back empty).
      if (!status.available) controller.#stateVersion = undefined;
      else controller.#resync();
    });
    return controller;
  }

  get store(): StateStore {
    return this.#store;
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

  /** The backend address policy at add time; main.ts tells it the ports bound as 0. */
  readonly backendAddresses = new BackendAddressCheck();

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
  async operate(op: RuntimeOperation, actor: Actor): Promise<ChangeResult> {
    // Resolved before queueing: a slow resolver must not hold other changes up.
    const resolved = op.kind === 'add' && op.addressCheck !== undefined ? await this.backendAddresses.resolve(op.backend.url) : undefined;
    return this.#serialised(async () => {
      const target = op.kind === 'add' ? `${op.pool}/${op.backend.id}` : op.backendId;
      const action = `backend.${op.kind === 'drain' ? (op.drain ? 'drain' : 'undrain') : op.kind}`;
      const dynamic = this.#current.dynamic;
      let problem: VelofluxError | undefined;
      let audited: AuditDetail = {};
      /** `op`, with an added backend marked as its tenant's once the policy passed it. */
      let applied: RuntimeOperation = op;
      if (op.kind === 'add') {
        audited = { url: op.backend.url };
        if (!dynamic.pools.some((p) => p.name === op.pool)) problem = new VelofluxError('VF_ERR_POOL_NOT_FOUND', `no pool named "${op.pool}"`);
        else if (findBackend(dynamic, op.backend.id) !== undefined) problem = new VelofluxError('VF_ERR_BACKEND_EXISTS', `backend "${op.backend.id}" already exists`);
        else if (op.addressCheck !== undefined) {
          const verdict = this.backendAddresses.judge(this.#current.config, op.pool, op.backend, resolved, op.addressCheck);
          if (verdict.audit !== undefined) audited = { ...audited, addressPolicy: verdict.audit };
          if (verdict.refusal !== undefined) {
            const { rule, reason } = verdict.refusal;
            problem = new VelofluxError('VF_ERR_BACKEND_ADDRESS_DENIED', `backend address ${op.backend.url} refused by the backend address policy, rule "${rule}": ${reason}`);
          } else {
            applied = { ...op, backend: verdict.backend };
          }
        }
      } else if (findBackend(dynamic, op.backendId) === undefined) {
        problem = new VelofluxError('VF_ERR_BACKEND_NOT_FOUND', `no backend with id "${op.backendId}"`);
      }
      if (problem !== undefined) {
        this.#reject(actor, action, target, problem, audited);
        throw problem;
      }
      const state: RuntimeState = { ...this.#current.state, overlay: withOperation(this.#current.state.overlay, applied) };
      return this.#commit(this.#current.file, state, actor, action, target, audited);
    });
  }

  /** POST /admin/validate: every problem of a candidate dynamic config, nothing applied. */
  validate(dynamic: DynamicInput): { valid: boolean; problems: string[] } {
    try {
      validateConfig({ server: this.#current.file.rawServer, ...dynamic }, 'candidate');
      return { valid: true, problems: [] };
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return { valid: false, problems: err.problems.map(formatProblem) };
    }
  }

  /** Runs after every earlier change; `isChange: false` for reads that must not interleave but change nothing (not counted). */
  #serialised<T>(task: () => Promise<T>, isChange = true): Promise<T> {
    const counted = () =>
      !isChange ? task() : task().then(
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

  /**
   * Save first, then apply (issue 13): a change is durable (embedded: on disk, fsynced; Redis:
   * acknowledged) before any worker sees it, so a write that fails changes nothing anywhere, not
   * even briefly: no worker swap, no configVersion.
   *
   * If the workers then refuse the saved change (VF_ERR_APPLY_FAILED: no worker serves it), the
   * rule is "the store follows what is served": the previous runtime state is written back over
   * the refused one (a new version, so instances that already followed the refused change follow
   * the restore too). Retrying the apply instead would not help: a refusal is this host's fault
   * (a certificate it cannot read) and repeats. If the restore cannot be written either, the
   * divergence is logged as an error and mended at the first chance: the next change writes a
   * whole state over it, and a Redis that comes back gets the restore before anything is re-read.
   */
  async #commit(file: ConfigFile, state: RuntimeState, actor: Actor, action: string, target: string | undefined, audited: AuditDetail = {}): Promise<ChangeResult> {
    const applier = this.#applier;
    if (applier === undefined) throw new VelofluxError('VF_ERR_INTERNAL', 'no workers to apply the config to yet');
    let next: Effective;
    try {
      next = resolve(file, state, file.path, action === 'config.reload');
    } catch (err) {
      this.#reject(actor, action, target, err, audited);
      throw err;
    }
    const previousState = this.#current.state;
    const saves = JSON.stringify(previousState) !== JSON.stringify(next.state);
    let stateVersion = this.#stateVersion;
    if (saves) {
      try {
        stateVersion = await this.#persist(next.state);
      } catch (err) {
        const code = err instanceof VelofluxError ? err.code : 'VF_ERR_PERSIST_FAILED';
        const reason = (err as Error).message;
        this.#audit.record({ actor, action, target, outcome: 'failed', detail: reason, ...audited });
        throw new VelofluxError(code, `${reason}; the change was not applied on any worker`);
      }
      this.#stateVersion = stateVersion;
    }
    let applied: { snapshot: ConfigSnapshot; previous: ConfigSnapshot };
    try {
      applied = await this.#applyOnWorkers(applier, next, actor, action, target, audited);
    } catch (err) {
      if (saves) await this.#restoreStored(previousState, stateVersion!);
      throw err;
    }
    const { snapshot, previous } = applied;
    const running = previous.config;
    this.#becomeCurrent(next, snapshot.config, stateVersion);
    const needsRestart = changedPaths(running.server, next.config.server);
    if (needsRestart.length > 0) this.#log.warn({ needsRestart }, 'static settings changed in the file: they take effect after a restart');
    const result: ChangeResult = { configVersion: snapshot.version, etag: this.#etag, needsRestart, skipped: next.skipped };
    this.#audit.record({ actor, action, target, outcome: 'applied', configVersion: snapshot.version, detail: { needsRestart, skipped: next.skipped }, ...audited });
    return result;
  }

  /** Writes `state` (the one served) back over the refused change saved as `refusedVersion`; see #commit. */
  async #restoreStored(state: RuntimeState, refusedVersion: number): Promise<void> {
    const { namespace, id } = RUNTIME_STATE_KEY;
    try {
      this.#stateVersion = (await this.#store.put(namespace, id, state, { expectedVersion: refusedVersion })).version;
      this.#unrestored = undefined;
    } catch (err) {
      this.#unrestored = { state, refusedVersion };
      this.#log.error({ err: (err as Error).message, refusedVersion }, 'the state store holds a change the workers refused and could not be restored yet: the next change or the store coming back restores it');
    }
  }

  /**
   * Swaps `next` in on every worker (or none); static settings keep their running values until a
   * restart. A failure is audited and thrown; the running config is untouched.
   */
  async #applyOnWorkers(applier: ConfigApplier, next: Effective, actor: Actor, action: string, target: string | undefined, audited: AuditDetail = {}): Promise<{ snapshot: ConfigSnapshot; previous: ConfigSnapshot }> {
    const previous = applier.committed;
    const config = Object.freeze({ ...next.config, server: previous.config.server });
    const snapshot: ConfigSnapshot = { ...previous, version: applier.nextVersion(), config };
    try {
      await applier.apply(snapshot);
    } catch (err) {
      this.#audit.record({ actor, action, target, outcome: 'failed', detail: (err as Error).message, ...audited });
      throw err;
    }
    return { snapshot, previous };
  }

  /** What the workers now run is what this controller answers with (GET, ETag, health checks). */
  #becomeCurrent(next: Effective, config: Readonly<VelofluxConfig>, stateVersion: number | undefined): void {
    this.#current = { ...next, config };
    this.#stateVersion = stateVersion;
    this.#etag = etagOf(next.dynamic);
    this.onApplied(config);
  }

  /** Writes the runtime state, refusing to overwrite a version this instance has not seen. */
  async #persist(state: RuntimeState): Promise<number> {
    const { namespace, id } = RUNTIME_STATE_KEY;
    // Redis was down at start: learn the current version first rather than write blindly.
    const expectedVersion = this.#stateVersion ?? (await this.#store.get(namespace, id))?.version ?? 0;
    try {
      const { version } = await this.#store.put(namespace, id, state, { expectedVersion });
      this.#unrestored = undefined; // a whole state written over the refused one
      return version;
    } catch (err) {
      // An unanswered write may still have landed: learn the version again before the next one.
      if ((err as VelofluxError).code === 'VF_ERR_STATE_UNAVAILABLE') this.#stateVersion = undefined;
      if ((err as VelofluxError).code === 'VF_ERR_STATE_CONFLICT') {
        throw new VelofluxError('VF_ERR_STATE_CONFLICT', 'the runtime config was changed meanwhile by another VeloFlux instance; read it again and retry');
      }
      throw err;
    }
  }

  /** A runtime state written elsewhere (another instance): apply it like any change. */
  #onStateChange(change: StateChange): void {
    if (change.namespace !== RUNTIME_STATE_KEY.namespace || change.id !== RUNTIME_STATE_KEY.id) return;
    // Our own write coming back (the store reports every change): #commit has taken it in. Queued
    // as a change it counted twice in the metrics, and could mark the change after it, which
    // failed, as succeeded (veloflux_config_last_reload_success).
    if (change.origin === this.#store.nodeId) return;
    if (this.#stateVersion !== undefined && change.version <= this.#stateVersion) return;
    void this.#adopt(change.deleted ? emptyRuntimeState() : change.value, change.version, change.origin);
  }

  /**
   * After Redis comes back: changes published while it was away were missed, so read the record.
   * A Redis that lost its data (restarted without persistence) is re-seeded with the state in
   * force here; when several instances race to do it, one wins and the others adopt its write.
   */
  #resync(): void {
    const { namespace, id } = RUNTIME_STATE_KEY;
    void this.#serialised(async () => {
      const unrestored = this.#unrestored;
      if (unrestored !== undefined) {
        try {
          const restored = await this.#store.put(namespace, id, unrestored.state, { expectedVersion: unrestored.refusedVersion });
          this.#unrestored = undefined;
          return restored;
        } catch (err) {
          // Written over meanwhile (or Redis came back empty): what is there now wins, as below.
          if ((err as VelofluxError).code !== 'VF_ERR_STATE_CONFLICT') throw err;
          this.#unrestored = undefined;
        }
      }
      const record = await this.#store.get(namespace, id);
      if (record !== undefined) return record;
      if (JSON.stringify(this.#current.state) === JSON.stringify(emptyRuntimeState())) return { value: this.#current.state, version: 0 };
      const seeded = await this.#store.put(namespace, id, this.#current.state, { expectedVersion: 0 });
      this.#log.warn({ stateVersion: seeded.version }, 'the shared state had no runtime config: re-seeded it with the one in force here');
      return seeded;
    }, false).then(
      (record) => void this.#adopt(record.value, record.version, 'resync'),
      (err: unknown) => {
        if ((err as VelofluxError).code === 'VF_ERR_STATE_CONFLICT') return; // another instance re-seeded first: its change event follows
        this.#log.warn({ err: (err as Error).message }, 'could not re-read the runtime state after the state store came back');
      },
    );
  }

  #adopt(value: unknown, version: number, origin: string): Promise<unknown> {
    return this.#serialised(async () => {
      if (this.#stateVersion !== undefined && version <= this.#stateVersion) return;
      const actor: Actor = { via: 'state', node: origin };
      const applier = this.#applier;
      let state: RuntimeState;
      let next: Effective;
      try {
        state = parseRuntimeState(value, `state ${RUNTIME_STATE_KEY.namespace}/${RUNTIME_STATE_KEY.id} v${version}`);
        next = resolve(this.#current.file, state, `runtime state v${version} from ${origin}`);
        if (applier === undefined) throw new VelofluxError('VF_ERR_INTERNAL', 'no workers to apply the config to yet');
      } catch (err) {
        this.#reject(actor, 'config.sync', undefined, err);
        this.#log.error({ err: err instanceof ConfigError ? err.message : err, origin, version }, 'a runtime config change from the shared state cannot be applied here; the running config is unchanged');
        throw err;
      }
      if (JSON.stringify(next.state) === JSON.stringify(this.#current.state) && JSON.stringify(next.dynamic) === JSON.stringify(this.#current.dynamic)) {
        this.#stateVersion = version; // the same content under a new version (a resync, a re-seed): nothing to apply
        return;
      }
      const { snapshot } = await this.#applyOnWorkers(applier!, next, actor, 'config.sync', undefined);
      this.#becomeCurrent(next, snapshot.config, version);
      this.#audit.record({ actor, action: 'config.sync', outcome: 'applied', configVersion: snapshot.version, detail: { stateVersion: version, skipped: next.skipped } });
      this.#log.info({ origin, stateVersion: version, configVersion: snapshot.version }, 'applied a runtime config change from the shared state');
    }).catch(() => {});
  }

  #reject(actor: Actor, action: string, target: string | undefined, err: unknown, audited: AuditDetail = {}): void {
    const detail = err instanceof ConfigError ? err.problems.length + ' problem(s)' : (err as Error).message;
    this.#audit.record({ actor, action, target, outcome: 'rejected', detail, ...audited });
  }
}

/**
 * The effective config for a file and runtime state; throws ConfigError listing every problem.
 * `publishFile`: this is an explicit reload, so a PUT base the file supersedes is dropped from the
 * state (for every instance). Otherwise (start-up, a change from another instance, a runtime op)
 * the state keeps it: a host whose file differs must not undo a PUT the others serve (issue 13).
 */
function resolve(file: ConfigFile, state: RuntimeState, source: string, publishFile = false): Effective {
  const { dynamic, skipped, baseIsFile } = effectiveDynamic(file, state);
  const config = validateConfig({ server: file.rawServer, ...dynamic }, source);
  const effectiveState: RuntimeState = baseIsFile && publishFile ? { ...state, apiBase: null } : state;
  return { file, state: effectiveState, dynamic, config, skipped };
}
