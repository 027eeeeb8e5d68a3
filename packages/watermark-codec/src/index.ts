export * from './decode.ts';
export * from './encode.ts';
export * from './gf.ts';
export { type CodecLayout, type CodecParams, DEFAULT_CODEC, layoutOf, type Rgb, TAG_BITS } from './params.ts';
export * from './reed-solomon.ts';
