export { type AppOptions, buildApp } from './app.ts';
export {
  CONSOLE_COOKIE,
  type ConsoleSettings,
  consoleSettingsFromEnv,
  DEFAULT_CONSOLE_SETTINGS,
} from './auth/console-session.ts';
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
export * from './media-runtime.ts';
export {
  checkOutboundUrl,
  type OutboundSettings,
  outboundFetch,
  outboundSettingsFromEnv,
  refusedAddressReason,
  UrlForbidden,
} from './outbound.ts';
export {
  addressBucketKey,
  type BucketSettings,
  DEFAULT_RATE_LIMITS,
  RateLimited,
  type RateLimitSettings,
  rateLimitsFromEnv,
  ViewerRateLimiter,
} from './rate-limit.ts';
export {
  DEFAULT_RETENTION_DAYS,
  purgeRetained,
  RETENTION_ENV,
  type RetentionPolicy,
  retentionFromEnv,
  startRetention,
} from './retention.ts';
export { WATERMARK_HEADER } from './routes/viewer.ts';
export * from './runtime.ts';
export { securitySettingsFromEnv } from './security-settings.ts';
