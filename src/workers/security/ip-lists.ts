/**
 * `security.ipAllow` / `security.ipDeny` as BlockLists (node:net, CIDR matching in C++), built
 * once per snapshot. Allowed addresses skip the rules (trusted scanners, internal monitors, as
 * an IP allow rule in Cloudflare or a ModSecurity whitelist does); denied ones are refused on
 * every route. An address on both lists is allowed: the narrower intent is usually the allow.
 */
import { BlockList, isIPv4 } from 'node:net';

export class IpLists {
  readonly #allow: BlockList | undefined;
  readonly #deny: BlockList | undefined;

  constructor(allow: readonly string[], deny: readonly string[]) {
    this.#allow = allow.length === 0 ? undefined : blockList(allow);
    this.#deny = deny.length === 0 ? undefined : blockList(deny);
  }

  get empty(): boolean {
    return this.#allow === undefined && this.#deny === undefined;
  }

  allows(address: string): boolean {
    return this.#allow !== undefined && address !== '' && this.#allow.check(address, family(address));
  }

  denies(address: string): boolean {
    return this.#deny !== undefined && address !== '' && this.#deny.check(address, family(address));
  }
}

function family(address: string): 'ipv4' | 'ipv6' {
  return address.includes(':') ? 'ipv6' : 'ipv4';
}

function blockList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const type = isIPv4(address) ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  }
  // IPv4 clients on a dual-stack listener arrive as ::ffff:a.b.c.d: the IPv4 entries cover them too.
  return list;
}
