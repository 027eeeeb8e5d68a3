export { type AppOptions, buildApp } from './app.ts';
export { DEFAULT_CONFIG, type ServerConfig } from './config.ts';
export { WATERMARK_HEADER } from './routes/viewer.ts';
export * from './runtime.ts';
