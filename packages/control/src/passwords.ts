import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';
import { ControlError, invalid } from './errors.ts';

/**
 * Operator passwords: scrypt (memory-hard: N = 2^15, r = 8 → 32 MiB and tens of milliseconds per check),
 * a random 16-byte salt per password, stored as the self-describing `scrypt$N=..,r=..,p=..$salt$hash`
 * so the cost can be raised later without breaking stored hashes.
 */
const PARAMS = { N: 2 ** 15, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
export const MIN_PASSWORD_LENGTH = 12;
/** Longer inputs are refused before hashing (bounded work per request). */
export const MAX_PASSWORD_BYTES = 1024;
/** Bounds on parameters read back from a stored hash (a corrupted row can't make a check unbounded). */
const LIMITS = { N: 2 ** 20, r: 32, p: 16 };

/** Throws 400 `weak_password` unless the password is at least 12 characters of more than one kind. */
export function checkPasswordPolicy(password: unknown): asserts password is string {
  if (typeof password !== 'string' || password.length === 0)
    throw invalid('weak_password', 'a password is required');
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES)
    throw invalid('weak_password', `passwords are at most ${MAX_PASSWORD_BYTES} bytes`);
  const chars = [...password];
  if (chars.length < MIN_PASSWORD_LENGTH)
    throw invalid('weak_password', `passwords need at least ${MIN_PASSWORD_LENGTH} characters`);
  if (new Set(chars).size < 4)
    throw invalid('weak_password', 'this password repeats too few characters; choose a less guessable one');
}

// Each check holds 32 MiB: at most two run at once, a bounded number wait their turn, more are refused.
const MAX_CONCURRENT = 2;
const MAX_WAITING = 64;
let running = 0;
const waiting: Array<() => void> = [];

async function derive(password: string, salt: Buffer, params: { N: number; r: number; p: number }) {
  if (running >= MAX_CONCURRENT) {
    if (waiting.length >= MAX_WAITING)
      throw new ControlError(
        503,
        'password_check_busy',
        'too many password checks at once; try again shortly',
      );
    await new Promise<void>((go) => waiting.push(go));
  }
  running++;
  try {
    const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r + 1024 * 1024 };
    return await new Promise<Buffer>((done, fail) =>
      scrypt(password.normalize('NFC'), salt, KEY_BYTES, options, (err, key) =>
        err ? fail(err) : done(key),
      ),
    );
  } finally {
    running--;
    waiting.shift()?.();
  }
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, PARAMS);
  return `scrypt$N=${PARAMS.N},r=${PARAMS.r},p=${PARAMS.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

function parse(stored: string) {
  const m =
    /^scrypt\$N=(\d{1,8}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9_-]{16,64})\$([A-Za-z0-9_-]{16,128})$/.exec(
      stored,
    );
  if (!m) return undefined;
  const params = { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  if (params.N < 2 || params.N > LIMITS.N || (params.N & (params.N - 1)) !== 0) return undefined;
  if (params.r < 1 || params.r > LIMITS.r || params.p < 1 || params.p > LIMITS.p) return undefined;
  return { params, salt: Buffer.from(m[4]!, 'base64url'), key: Buffer.from(m[5]!, 'base64url') };
}

/** Whether `password` matches the stored hash (constant-time compare of the derived keys). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parse(stored);
  if (!parsed || Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
    // Same work as a real check, so a broken row or an oversized guess can't be told apart by timing.
    await derive('', DUMMY_SALT, PARAMS);
    return false;
  }
  const key = await derive(password, parsed.salt, parsed.params);
  return key.length === parsed.key.length && timingSafeEqual(key, parsed.key);
}

const DUMMY_SALT = randomBytes(16);
/**
 * A hash no password matches (its key is random), checked when the account doesn't exist, so that an
 * unknown name costs what a wrong password costs.
 */
export const DUMMY_PASSWORD_HASH = `scrypt$N=${PARAMS.N},r=${PARAMS.r},p=${PARAMS.p}$${DUMMY_SALT.toString('base64url')}$${randomBytes(KEY_BYTES).toString('base64url')}`;

/** A password to print once: 24 characters of base64url (144 random bits). */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}
