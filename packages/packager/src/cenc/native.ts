/**
 * Which AES the encryptor runs: the native in-place addon (`@vigil/aes-native`, OpenSSL EVP) when it is
 * built and loads, else `node:crypto`. `VIGIL_NATIVE_AES=0` forces `node:crypto`; `useNativeAes` switches
 * at run time (tests and benchmarks compare the two). Both give the same bytes.
 */
import { loadNativeAes, type NativeAes, nativeAesError } from '@vigil/aes-native';

let choice: NativeAes | undefined | null = null;

/** The native AES to use, or undefined for `node:crypto`. */
export function nativeAes(): NativeAes | undefined {
  if (choice === null) choice = process.env.VIGIL_NATIVE_AES === '0' ? undefined : loadNativeAes();
  return choice;
}

/**
 * Uses the native AES (if it loads) or not; undefined goes back to the default (`VIGIL_NATIVE_AES`).
 * Returns whether the native AES is now in use.
 */
export function useNativeAes(on: boolean | undefined): boolean {
  choice = on === undefined ? null : on ? loadNativeAes() : undefined;
  return nativeAes() !== undefined;
}

/** One line on which AES the encryptor uses, and why. */
export function aesDescription(): string {
  const aes = nativeAes();
  if (aes) return `native AES, OpenSSL EVP in the output buffer (${aes.openssl})`;
  const why =
    process.env.VIGIL_NATIVE_AES === '0' ? 'VIGIL_NATIVE_AES=0' : (nativeAesError() ?? 'switched off');
  return `node:crypto (native AES: ${why})`;
}
