/**
 * The top-level `security` section compiled once per snapshot: the address lists every route
 * shares, and each route's effective settings (its own, else the top-level defaults; exclusions
 * add up).
 */
import type { RouteConfig, SecurityConfig, SecurityExclusionConfig } from '../../shared/config/schema.js';
import { IpLists } from './ip-lists.js';
import type { LiveIpLists } from './live-ip-lists.js';

export type SecurityMode = SecurityConfig['mode'];

export interface RouteSecuritySettings {
  readonly mode: SecurityMode;
  readonly threshold: number;
  readonly inspectBodyBytes: number;
  readonly bodyOverflow: SecurityConfig['bodyOverflow'];
  readonly allowedMethods: readonly string[];
  readonly exclusions: readonly SecurityExclusionConfig[];
}

export class SecurityPolicy {
  /** The config's lists (`security.ipAllow` / `ipDeny`), fixed for the snapshot. */
  readonly ipLists: IpLists;
  /** The lists edited through the APIs, which change under a running snapshot. */
  readonly liveIpLists: LiveIpLists;
  readonly #config: SecurityConfig;

  constructor(config: SecurityConfig, liveIpLists: LiveIpLists) {
    this.#config = config;
    this.ipLists = new IpLists(config.ipAllow, config.ipDeny);
    this.liveIpLists = liveIpLists;
  }

  settingsFor(route: RouteConfig): RouteSecuritySettings {
    const own = route.security;
    const defaults = this.#config;
    return {
      mode: own?.mode ?? defaults.mode,
      threshold: own?.threshold ?? defaults.threshold,
      inspectBodyBytes: own?.inspectBodyBytes ?? defaults.inspectBodyBytes,
      bodyOverflow: own?.bodyOverflow ?? defaults.bodyOverflow,
      allowedMethods: defaults.allowedMethods,
      exclusions: own === undefined ? defaults.exclusions : [...defaults.exclusions, ...own.exclusions],
    };
  }
}
