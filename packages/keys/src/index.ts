export * from './content-keys.ts';
export * from './envelope.ts';
export * from './pssh.ts';
export * from './text.ts';
