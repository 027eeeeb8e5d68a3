/**
 * The native in-place AES against node:crypto: CTR ranges at any keystream position (mid-block starts,
 * ranges that continue the previous one, counter carries across 64 and 128 bits), CBC patterns, and
 * rejected arguments. The addon must be built (`npm ci` does it; `npm run build:native` says why not).
 */
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { loadNativeAes, nativeAesError } from '../src/index.ts';

const loaded = loadNativeAes();
if (!loaded) throw new Error(`the native AES addon is not built: ${nativeAesError()}`);
const aes = loaded;
const KEY = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');

/** The counter block `iv` + `block` (all 128 bits). */
function counter(iv: Buffer, block: number): Buffer {
  const n = ((iv.readBigUInt64BE(0) << 64n) | iv.readBigUInt64BE(8)) + BigInt(block);
  const out = Buffer.alloc(16);
  out.writeBigUInt64BE((n >> 64n) & 0xffffffffffffffffn, 0);
  out.writeBigUInt64BE(n & 0xffffffffffffffffn, 8);
  return out;
}

test('ctr: ranges anywhere in the keystream of several counter blocks', () => {
  const ivs = Buffer.concat([
    randomBytes(16),
    Buffer.from('0000000000000001fffffffffffffff0', 'hex'), // carry into the high half
    Buffer.from('fffffffffffffffffffffffffffffffe', 'hex'), // wraps around 2^128
  ]);
  for (let round = 0; round < 50; round++) {
    const clear = randomBytes(4096);
    const buf = Buffer.from(clear);
    const expected = Buffer.from(clear);
    const ranges: number[] = [];
    let offset = 0;
    let prev: { iv: number; pos: number } | undefined;
    while (offset < clear.length - 1) {
      const length = Math.min(clear.length - offset, Math.floor(Math.random() * 300));
      // half of the ranges continue the previous one's keystream
      const go = prev && Math.random() < 0.5;
      const iv = go ? prev!.iv : Math.floor(Math.random() * 3);
      const pos = go ? prev!.pos : Math.floor(Math.random() * 100_000);
      const c = createCipheriv('aes-128-ctr', KEY, counter(ivs.subarray(16 * iv, 16 * iv + 16), pos >> 4));
      c.update(Buffer.alloc(pos & 15));
      c.update(clear.subarray(offset, offset + length)).copy(expected, offset);
      ranges.push(offset, length, iv, pos >> 4, pos & 15);
      prev = { iv, pos: pos + length };
      offset += length + Math.floor(Math.random() * 20);
    }
    aes!.ctr(buf, KEY, ivs, new Float64Array(ranges));
    assert.ok(buf.equals(expected), `round ${round}`);
    // from a source buffer, 100 bytes further on there, into a copy of the clear bytes
    const src = Buffer.concat([randomBytes(100), clear]);
    const out = Buffer.from(clear);
    const six: number[] = [];
    for (let i = 0; i < ranges.length; i += 5) six.push(...ranges.slice(i, i + 5), ranges[i]! + 100);
    aes!.ctr(out, KEY, ivs, new Float64Array(six), src);
    assert.ok(out.equals(expected), `round ${round}, from a source`);
  }
});

test('cbc: every whole block, and crypt:skip patterns, each range a chain of its own', () => {
  const iv = randomBytes(16);
  for (const [crypt, skipBlocks] of [
    [1, 0],
    [0, 0],
    [1, 9],
    [2, 3],
  ] as const) {
    const clear = randomBytes(5000);
    const buf = Buffer.from(clear);
    const expected = Buffer.from(clear);
    const ranges = [0, 1000, 1003, 15, 1100, 2999, 4200, 800];
    for (let i = 0; i < ranges.length; i += 2) {
      const [start, length] = [ranges[i]!, ranges[i + 1]!];
      const blocks = length >> 4;
      const c = createCipheriv('aes-128-cbc', KEY, iv).setAutoPadding(false);
      const period = crypt === 0 || skipBlocks === 0 ? 1 : crypt + skipBlocks;
      const run = crypt === 0 || skipBlocks === 0 ? 1 : crypt;
      for (let b = 0; b < blocks; b += period) {
        const n = Math.min(run, blocks - b) * 16;
        c.update(clear.subarray(start + b * 16, start + b * 16 + n)).copy(expected, start + b * 16);
      }
    }
    aes!.cbc(buf, KEY, iv, new Float64Array(ranges), crypt, skipBlocks);
    assert.ok(buf.equals(expected), `pattern ${crypt}:${skipBlocks}`);
  }
});

test('bad arguments throw and leave the buffer alone', () => {
  const buf = Buffer.alloc(64, 1);
  const iv = Buffer.alloc(16);
  assert.throws(() => aes!.ctr(buf, KEY, iv, new Float64Array([60, 5, 0, 0, 0])), RangeError);
  assert.throws(() => aes!.ctr(buf, KEY, iv, new Float64Array([0, 5, 1, 0, 0])), RangeError);
  assert.throws(() => aes!.ctr(buf, KEY, iv, new Float64Array([0, 5, 0, 0, 16])), RangeError);
  assert.throws(() => aes!.ctr(buf, KEY, iv, new Float64Array([0.5, 5, 0, 0, 0])), RangeError);
  assert.throws(() => aes!.ctr(buf, Buffer.alloc(8), iv, new Float64Array([0, 5, 0, 0, 0])), RangeError);
  assert.throws(() => aes!.ctr(buf, KEY, iv, new Float64Array([0, 5, 0, 0])), RangeError);
  assert.throws(() => aes!.ctr(buf, KEY, iv, [0, 5, 0, 0, 0] as unknown as Float64Array), TypeError);
  assert.throws(() => aes!.cbc(buf, KEY, iv, new Float64Array([32, 48]), 1, 9), RangeError);
  assert.throws(() => aes!.ctr(buf, KEY, iv, new Float64Array([0, 5, 0, 0, 0, 60]), buf), RangeError);
  assert.throws(() => aes!.ctr(buf, KEY, iv, new Float64Array([0, 8, 0, 0, 0, 4]), buf), /overlaps/);
  assert.ok(buf.equals(Buffer.alloc(64, 1)));
});
