import { assertHmacSecret } from '@vigil/core';
import type { ServerConfig } from './config.ts';

type SecuritySettings = Pick<
  Partial<ServerConfig>,
  'compatAdminSecret' | 'compatAdminTokenMaxAgeSeconds' | 'metricsToken' | 'metricsPublic'
>;

/**
 * The token and exposure settings of `vigil serve`, checked before anything starts; a bad one throws
 * an Error with one line naming it:
 *
 * - `VIGIL_JWT_SECRET`: checked here too (at least 32 bytes), so a short one stops the start at once.
 * - `VIGIL_COMPAT_ADMIN_SECRET`: the default tenant's secret for seed-style admin calls (at least 32 bytes).
 * - `VIGIL_COMPAT_ADMIN_TOKEN_MAX_AGE`: seconds a seed-style admin token is accepted after its `iat`.
 * - `VIGIL_METRICS_TOKEN`: bearer credential for `/metrics` (at least 16 characters).
 * - `VIGIL_METRICS_PUBLIC=1`: `/metrics` answers anyone.
 */
export function securitySettingsFromEnv(env: NodeJS.ProcessEnv = process.env): SecuritySettings {
  const settings: SecuritySettings = {};
  if (env.VIGIL_JWT_SECRET) assertHmacSecret(env.VIGIL_JWT_SECRET, 'VIGIL_JWT_SECRET');
  if (env.VIGIL_COMPAT_ADMIN_SECRET) {
    assertHmacSecret(env.VIGIL_COMPAT_ADMIN_SECRET, 'VIGIL_COMPAT_ADMIN_SECRET');
    settings.compatAdminSecret = Buffer.from(env.VIGIL_COMPAT_ADMIN_SECRET, 'utf8');
  }
  const maxAge = env.VIGIL_COMPAT_ADMIN_TOKEN_MAX_AGE;
  if (maxAge) {
    const seconds = Number(maxAge);
    if (!/^\d+$/.test(maxAge) || seconds < 1 || seconds > 86_400)
      throw new Error('VIGIL_COMPAT_ADMIN_TOKEN_MAX_AGE must be whole seconds, 1 to 86400');
    settings.compatAdminTokenMaxAgeSeconds = seconds;
  }
  if (env.VIGIL_METRICS_TOKEN) {
    if (env.VIGIL_METRICS_TOKEN.length < 16 || env.VIGIL_METRICS_TOKEN.length > 4096)
      throw new Error('VIGIL_METRICS_TOKEN must be 16 to 4096 characters');
    settings.metricsToken = env.VIGIL_METRICS_TOKEN;
  }
  const open = env.VIGIL_METRICS_PUBLIC;
  if (open !== undefined && open !== '') {
    if (open !== '0' && open !== '1') throw new Error('VIGIL_METRICS_PUBLIC must be 0 or 1');
    settings.metricsPublic = open === '1';
  }
  return settings;
}
