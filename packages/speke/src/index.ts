export * from './cpix.ts';
export * from './errors.ts';
export * from './response.ts';
export * from './signaling.ts';
export * from './xml.ts';
