export * from './box.ts';
export * from './fragment.ts';
export * from './rewrite.ts';
