/**
 * CloudFront in front of Vigil's origin: a tenant's signer (key pair id, RSA private key sealed at rest,
 * the distribution's URL; `PUT /v1/media/cloudfront`, admin) and, for stream-url's `cdn=cloudfront`, the
 * stream URL on the distribution signed with a custom policy over the asset's folder (expiry and the
 * viewer's address) plus the same policy as signed cookies for the segments.
 */
import {
  BadRequest,
  cloudFrontSignedCookies,
  cloudFrontSignedUrl,
  isIpAddress,
  signCloudFrontPolicy,
} from '@vigil/core';
import { CloudFrontSigners, type VigilStore } from '@vigil/store';
import { type Actor, requireRole } from '../actor.ts';
import { mediaError } from './common.ts';

export interface CloudFrontInput {
  keyPairId: string;
  privateKey: string;
  domain: string;
}

function distribution(domain: string): string {
  let url: URL;
  try {
    url = new URL(domain);
  } catch {
    throw mediaError('delivery_cdn_invalid', '"domain" must be an https URL');
  }
  if (url.protocol !== 'https:' || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash)
    throw mediaError('delivery_cdn_invalid', '"domain" must be an https URL without a path');
  return url.origin;
}

/** Sets the tenant's CloudFront signer; the key must sign (checked once here). */
export async function setCloudFront(deps: { store: VigilStore }, actor: Actor, input: CloudFrontInput) {
  requireRole(actor, 'admin');
  const domain = distribution(input.domain);
  const signer = { keyPairId: input.keyPairId, privateKey: input.privateKey };
  try {
    if (!/^[A-Za-z0-9]{1,64}$/.test(signer.keyPairId))
      throw new BadRequest('invalid_cloudfront_key', '"keyPairId" must be letters and digits');
    signCloudFrontPolicy('{}', signer);
  } catch (err) {
    if (err instanceof BadRequest) throw mediaError('delivery_cdn_invalid', err.message);
    throw err;
  }
  const updatedAt = Date.now();
  await new CloudFrontSigners(deps.store).set(actor.tenantId, { ...signer, domain, updatedAt });
  return { keyPairId: signer.keyPairId, domain, updatedAt: new Date(updatedAt).toISOString() };
}

/** The origin URL moved onto the tenant's distribution and signed, with cookies for the asset's folder. */
export async function cloudFrontDelivery(
  store: VigilStore,
  tenantId: string,
  input: { originUrl: string; folder: string; expires: number; ip: string },
) {
  const s = await new CloudFrontSigners(store).get(tenantId);
  if (!s)
    throw mediaError(
      'delivery_cdn_unconfigured',
      'the tenant has no CloudFront signer (PUT /v1/media/cloudfront)',
    );
  const origin = new URL(input.originUrl);
  const policy = {
    resource: `${s.domain}${input.folder}*`,
    expires: input.expires,
    ipAddress: isIpAddress(input.ip) ? input.ip : undefined,
  };
  return {
    streamUrl: cloudFrontSignedUrl(`${s.domain}${origin.pathname}${origin.search}`, policy, s),
    cookies: cloudFrontSignedCookies(policy, s),
  };
}
