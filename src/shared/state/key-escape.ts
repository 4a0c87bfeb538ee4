/**
 * Escaping of names used inside Redis keys and channel names. ":" separates key parts and "*",
 * "?", "[", "]" are glob characters in SCAN/KEYS patterns, "{" "}" choose the cluster hash slot:
 * each is written as %XX, and so is "%" itself, which makes the mapping one-to-one (two different
 * names never give the same escaped text).
 */
const SPECIAL = /[%:*?[\]{}\\ \t\r\n]/g;

export function escapeKeyPart(name: string): string {
  return name.replace(SPECIAL, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`);
}

export function unescapeKeyPart(text: string): string {
  return text.replace(/%([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}
