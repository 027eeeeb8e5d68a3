export { type AppOptions, buildApp } from './app.ts';
export { DEFAULT_CONFIG, type ServerConfig } from './config.ts';
export {
  type DeliveryIssue,
  type DeliveryRequest,
  DeliverySigner,
  issueDelivery,
  ORIGIN_BASE,
  originPrefix,
  signedOriginUrl,
} from './delivery.ts';
export { WATERMARK_HEADER } from './routes/viewer.ts';
export * from './runtime.ts';
export { securitySettingsFromEnv } from './security-settings.ts';
