/**
 * Password hashing for the main API's users: scrypt with the OWASP Password Storage Cheat Sheet
 * parameters (N=2^17, r=8, p=1), a 16-byte random salt and a 32-byte key, stored as a
 * self-describing string `scrypt$<log2 N>$<r>$<p>$<salt b64url>$<hash b64url>` so the parameters
 * can be raised later without breaking existing hashes.
 *
 * Passwords are NFKC-normalised before hashing so the same password typed on two keyboards
 * (composed vs decomposed accents) hashes the same (NIST SP 800-63B §5.1.1.2).
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const LOG2_COST = 17;
const BLOCK_SIZE = 8;
const PARALLELISM = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** scrypt needs 128 * N * r bytes (128 MiB here); Node's default cap is 32 MiB. */
const MAX_MEMORY = 256 * 1024 * 1024;

export const MIN_PASSWORD_LENGTH = 12;
/** Bounds the work an attacker can make one request do; far above any real passphrase. */
export const MAX_PASSWORD_BYTES = 1024;

/**
 * A stored hash that matches no password, with the current parameters: verifying against it
 * costs what verifying a real user's hash costs, so an unknown email cannot be told apart by
 * timing. Random per process: it only has to look like a hash to scrypt.
 */
const DUMMY_HASH = format(LOG2_COST, BLOCK_SIZE, PARALLELISM, randomBytes(SALT_BYTES), randomBytes(KEY_BYTES));

const STORED = /^scrypt\$(\d{1,2})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9_-]{22,88})\$([A-Za-z0-9_-]{43,88})$/;

/**
 * OWASP favours length over composition rules: at least 12 characters (code points, so emoji
 * and accents count once) and at most 1024 bytes. Any Unicode is welcome except control
 * characters (NUL, escapes: NIST SP 800-63B §5.1.1.2 asks for printable characters and spaces),
 * which cannot be typed and truncate in C APIs. Only new passwords are checked: stored hashes
 * keep verifying whatever they were made from. Returns every problem; empty means acceptable.
 */
export function checkPasswordPolicy(password: string): string[] {
  const problems: string[] = [];
  if (/\p{Cc}/u.test(password)) problems.push('the password must not contain control characters (such as NUL)');
  if ([...password.normalize('NFKC')].length < MIN_PASSWORD_LENGTH) problems.push(`the password must be at least ${MIN_PASSWORD_LENGTH} characters long`);
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) problems.push(`the password must be at most ${MAX_PASSWORD_BYTES} bytes long`);
  return problems;
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, LOG2_COST, BLOCK_SIZE, PARALLELISM);
  return format(LOG2_COST, BLOCK_SIZE, PARALLELISM, salt, key);
}

/** False for a wrong password and for a stored string that is not a hash this module wrote. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) return false;
  const parts = STORED.exec(stored);
  if (parts === null) return false;
  const [log2Cost, blockSize, parallelism] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  // A stored string is ours, but a corrupted one must not make one login allocate gigabytes.
  if (log2Cost < 10 || log2Cost > LOG2_COST + 3 || blockSize < 1 || blockSize > 32 || parallelism < 1 || parallelism > 16) return false;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const expected = Buffer.from(parts[5]!, 'base64url');
  let actual: Buffer;
  try {
    actual = await derive(password, salt, log2Cost, blockSize, parallelism, expected.length);
  } catch {
    return false;
  }
  return timingSafeEqual(actual, expected);
}

/** Runs a full verification that always fails: the unknown-user path of a login. */
export async function dummyVerify(password: string): Promise<false> {
  await verifyPassword(password, DUMMY_HASH);
  return false;
}

function derive(password: string, salt: Buffer, log2Cost: number, blockSize: number, parallelism: number, keyBytes = KEY_BYTES): Promise<Buffer> {
  const options: ScryptOptions = { N: 2 ** log2Cost, r: blockSize, p: parallelism, maxmem: Math.max(MAX_MEMORY, 256 * 2 ** log2Cost * blockSize) };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, keyBytes, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function format(log2Cost: number, blockSize: number, parallelism: number, salt: Buffer, key: Buffer): string {
  return `scrypt$${log2Cost}$${blockSize}$${parallelism}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}
