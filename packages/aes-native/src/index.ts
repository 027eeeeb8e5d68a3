/**
 * Optional native AES-128 over ranges of one buffer, encrypted in place or from a source buffer into it
 * (OpenSSL EVP through Node-API, `src/aes.c`): no output buffer per call and one crossing into C per
 * segment. Built by the root
 * `postinstall` (`scripts/build-native.mjs`); where it could not be built, `loadNativeAes()` returns
 * undefined and callers use `node:crypto`.
 */
import { createCipheriv } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface NativeAes {
  /**
   * AES-128-CTR in place. `ivs`: 16-byte initial counter blocks back to back. `ranges`: five numbers
   * per range, in order: offset and length in `buf`, index of its counter block in `ivs`, then the
   * block number (from that counter block, added to all 128 bits) and byte in that block at which its
   * keystream starts. A range that starts where the previous one ended continues its cipher state.
   * With `src`, each range has a sixth number, its offset in `src`, where the bytes are read from (the
   * two must not overlap otherwise): encrypted while copied, one pass over the memory.
   */
  ctr(buf: Uint8Array, key: Uint8Array, ivs: Uint8Array, ranges: Float64Array, src?: Uint8Array): void;
  /**
   * AES-128-CBC encryption in place, no padding. `ranges`: offset, length per range; each range is a
   * chain started at `iv` over its whole blocks, `crypt` encrypted then `skip` left clear, repeated (the
   * chain runs on across skipped blocks); a pattern with a 0 is every whole block.
   */
  cbc(
    buf: Uint8Array,
    key: Uint8Array,
    iv: Uint8Array,
    ranges: Float64Array,
    crypt: number,
    skip: number,
  ): void;
  /** OpenSSL's version string, as the addon sees it */
  readonly openssl: string;
}

/** Where the build puts the addon. */
export const addonPath = fileURLToPath(new URL('../build/Release/vigil_aes.node', import.meta.url));

let loaded: { aes?: NativeAes; error?: string } | undefined;

/** Checks the addon against `node:crypto` on a few awkward ranges (mid-block starts, a carry). */
function selfTest(aes: NativeAes): boolean {
  const key = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
  const iv = Buffer.from('f0f1f2f3f4f5f6f7fffffffffffffffe', 'hex');
  const clear = Buffer.alloc(100, 0x5a);
  const expected = createCipheriv('aes-128-ctr', key, iv).update(clear);
  const buf = Buffer.from(clear);
  aes.ctr(buf, key, iv, new Float64Array([0, 7, 0, 0, 0, 7, 30, 0, 0, 7, 37, 63, 0, 2, 5]));
  if (!buf.equals(expected)) return false;
  const cbc = Buffer.from(clear);
  aes.cbc(cbc, key, iv, new Float64Array([0, 100]), 1, 0);
  const c = createCipheriv('aes-128-cbc', key, iv).setAutoPadding(false);
  return cbc.subarray(0, 96).equals(c.update(clear.subarray(0, 96))) && cbc[96] === 0x5a;
}

/** The addon, or undefined when it is not built, does not load or computes wrong bytes. */
export function loadNativeAes(): NativeAes | undefined {
  if (!loaded) {
    try {
      if (!existsSync(addonPath)) {
        loaded = { error: 'not built' };
      } else {
        const aes = createRequire(import.meta.url)(addonPath) as NativeAes;
        loaded = selfTest(aes) ? { aes } : { error: 'self-test failed' };
      }
    } catch (e) {
      loaded = { error: e instanceof Error ? e.message : String(e) };
    }
  }
  return loaded.aes;
}

/** Why `loadNativeAes()` returned undefined (undefined when it did not). */
export function nativeAesError(): string | undefined {
  loadNativeAes();
  return loaded?.error;
}
