/**
 * The backend address policy (issue 14, SSRF): a tenant's route must not reach what the tenant
 * could not reach itself: this host's loopback services, the cloud metadata address, VeloFlux's
 * own listeners (metrics, admin, API), another tenant's upstreams. Shared because it is checked
 * twice: by the primary when a backend is added (after resolving its name), and by the workers on
 * every new connection to a tenant's backend, after DNS, since a name can resolve elsewhere later
 * (DNS rebinding).
 *
 * Order, first match decides (each refusal names its rule):
 *   1. `deny` entries (global, then the tenant's): a host name pattern refuses the name, a CIDR
 *      refuses any address the name resolves to;
 *   2. `own-listener`: one of this instance's listener ports on one of its own addresses;
 *   3. `metadata`: 169.254.169.254 and fd00:ec2::254 (instance credentials live there);
 *   4. an address or CIDR entry of `allow` admits the address (it lifts rule 5 only);
 *   5. `loopback`, `link-local`, `unspecified` (0.0.0.0/8 and :: reach this host);
 *   6. when `allow` is not empty, the name or address must match one of its entries.
 * Private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) pass unless a rule refuses them:
 * backends normally live there. Rules 2 and 3 cannot be lifted by configuration; only a platform
 * admin's explicit, audited `allowUnsafeAddress` skips the policy for one backend.
 */
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { BackendPolicyConfig } from './config/schema.js';

export interface AddressRefusal {
  /** `loopback`, `backendPolicy.tenants.acme.deny`, ...: what an operator looks up. */
  readonly rule: string;
  /** Why, in a few words: `127.0.0.1 is a loopback address`. */
  readonly reason: string;
}

interface RangeRule {
  readonly rule: string;
  readonly what: string;
  readonly ranges: readonly string[];
}

const METADATA: RangeRule = { rule: 'metadata', what: 'the cloud instance metadata address', ranges: ['169.254.169.254/32', 'fd00:ec2::254/128'] };
const LIFTABLE: readonly RangeRule[] = [
  { rule: 'loopback', what: 'a loopback address (127.0.0.0/8, ::1)', ranges: ['127.0.0.0/8', '::1/128'] },
  { rule: 'link-local', what: 'a link-local address (169.254.0.0/16, fe80::/10)', ranges: ['169.254.0.0/16', 'fe80::/10'] },
  { rule: 'unspecified', what: 'an unspecified address (0.0.0.0/8, ::), which reaches this host', ranges: ['0.0.0.0/8', '::/128'] },
];

/** Address or CIDR entries in one BlockList, host name patterns apart. */
class AddressRules {
  readonly blocks = new BlockList();
  readonly names: readonly string[];
  readonly size: number;

  constructor(entries: readonly string[]) {
    const names: string[] = [];
    for (const entry of entries) {
      const [address, bits] = entry.split('/') as [string, string | undefined];
      const family = isIP(address);
      if (family === 0) names.push(entry);
      else if (bits === undefined) this.blocks.addAddress(address, family === 4 ? 'ipv4' : 'ipv6');
      else this.blocks.addSubnet(address, Number(bits), family === 4 ? 'ipv4' : 'ipv6');
    }
    this.names = names;
    this.size = entries.length;
  }

  hasAddress(address: string): boolean {
    return this.blocks.check(address, isIP(address) === 4 ? 'ipv4' : 'ipv6');
  }

  hasName(hostname: string): boolean {
    return this.names.some((pattern) => (pattern.startsWith('*.') ? hostname.endsWith(pattern.slice(1)) : hostname === pattern));
  }
}

const rangeList = (rule: RangeRule): BlockList => new AddressRules(rule.ranges).blocks;
const METADATA_BLOCKS = rangeList(METADATA);
const LIFTABLE_BLOCKS = LIFTABLE.map((rule) => ({ rule, blocks: rangeList(rule) }));

/** `::ffff:127.0.0.1` is 127.0.0.1; `[::1]` (a URL's host) is ::1. */
export function normaliseAddress(address: string): string {
  const bare = address.startsWith('[') ? address.slice(1, -1) : address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  return mapped === null ? bare.toLowerCase() : mapped[1]!;
}

/** A URL's host name as the policy compares it: lower case, without a trailing dot or IPv6 brackets. */
export function normaliseHostname(hostname: string): string {
  const bare = normaliseAddress(hostname);
  return bare.endsWith('.') ? bare.slice(0, -1) : bare;
}

/** This host's own addresses: a listener on 0.0.0.0 answers on every one of them. */
export function localInterfaceAddresses(): ReadonlySet<string> {
  const addresses = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const info of list ?? []) addresses.add(normaliseAddress(info.address.split('%')[0]!));
  return addresses;
}

export class BackendAddressPolicy {
  /** Identifies the rules, so a changed policy gets new upstream pools (BackendRegistry keys). */
  readonly key: string;
  readonly #deny: readonly { readonly rule: string; readonly rules: AddressRules }[];
  readonly #allow: AddressRules;
  readonly #allowRule: string;
  readonly #ownPorts: ReadonlySet<number>;
  readonly #localAddresses: ReadonlySet<string>;

  /**
   * `tenant`: whose backend is checked (its `backendPolicy.tenants` entry applies); `ownPorts`:
   * this instance's listener ports; `localAddresses`: this host's interface addresses.
   */
  constructor(config: BackendPolicyConfig, tenant: string | null, ownPorts: ReadonlySet<number>, localAddresses: ReadonlySet<string> = localInterfaceAddresses()) {
    const own = tenant === null ? undefined : config.tenants[tenant];
    this.#deny = [
      { rule: 'backendPolicy.deny', rules: new AddressRules(config.deny) },
      ...(own === undefined ? [] : [{ rule: `backendPolicy.tenants.${tenant}.deny`, rules: new AddressRules(own.deny) }]),
    ];
    const allowOwn = own?.allow !== undefined;
    this.#allow = new AddressRules(allowOwn ? own!.allow! : config.allow);
    this.#allowRule = allowOwn ? `backendPolicy.tenants.${tenant}.allow` : 'backendPolicy.allow';
    this.#ownPorts = ownPorts;
    this.#localAddresses = localAddresses;
    this.key = JSON.stringify([config.deny, own?.deny ?? [], allowOwn ? own!.allow : config.allow, [...ownPorts].sort()]);
  }

  /** Rules on the name alone (`deny` host name patterns): checked before resolving it. */
  refuseName(hostname: string): AddressRefusal | undefined {
    const name = normaliseHostname(hostname);
    if (isIP(name) !== 0) return undefined;
    for (const { rule, rules } of this.#deny) if (rules.hasName(name)) return { rule, reason: `${name} matches an entry of ${rule}` };
    return undefined;
  }

  /** One address `hostname` resolved to (or the address a URL names), with the port to connect to. */
  refuseAddress(address: string, port: number, hostname: string): AddressRefusal | undefined {
    const ip = normaliseAddress(address);
    const name = normaliseHostname(hostname);
    for (const { rule, rules } of this.#deny) if (rules.hasAddress(ip)) return { rule, reason: `${ip} is in ${rule}` };
    if (this.#ownPorts.has(port) && this.#isLocal(ip)) return { rule: 'own-listener', reason: `${ip}:${port} is one of this VeloFlux instance's own listeners` };
    if (METADATA_BLOCKS.check(ip, isIP(ip) === 4 ? 'ipv4' : 'ipv6')) return { rule: METADATA.rule, reason: `${ip} is ${METADATA.what}` };
    if (this.#allow.hasAddress(ip)) return undefined;
    for (const { rule, blocks } of LIFTABLE_BLOCKS) if (blocks.check(ip, isIP(ip) === 4 ? 'ipv4' : 'ipv6')) return { rule: rule.rule, reason: `${ip} is ${rule.what}` };
    if (this.#allow.size > 0 && !this.#allow.hasName(name)) return { rule: this.#allowRule, reason: `${name === ip ? ip : `${name} (${ip})`} matches no entry of ${this.#allowRule}` };
    return undefined;
  }

  #isLocal(ip: string): boolean {
    const family = isIP(ip) === 4 ? 'ipv4' : 'ipv6';
    return this.#localAddresses.has(ip) || LIFTABLE_BLOCKS.some(({ rule, blocks }) => rule.rule !== 'link-local' && blocks.check(ip, family));
  }
}

/** The listener ports a config names (0, "any free port", names none: the bound ones are added by who knows them). */
export function configuredListenerPorts(server: { http: { port: number }; https?: { port: number } | undefined; api: { port: number }; admin: { port: number }; metrics: { port: number }; dashboard: { port: number } }): number[] {
  return [server.http.port, server.https?.port, server.api.port, server.admin.port, server.metrics.port, server.dashboard.port].filter((p): p is number => p !== undefined && p > 0);
}
