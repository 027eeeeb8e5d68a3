import { createSign, type KeyObject } from 'node:crypto';
import { BadRequest } from '../errors.ts';

/**
 * CloudFront signed URLs and signed cookies, for customers who put CloudFront in front of Vigil's origin
 * (pure: no I/O; the private key is the caller's). A canned policy names one URL and an expiry; a custom
 * one a resource (wildcards allowed), an expiry, and optionally a start time and the viewer's address
 * range. The policy JSON is signed with RSA-SHA1 and both travel in CloudFront's URL-safe base64
 * (`+` → `-`, `=` → `_`, `/` → `~`): canned URLs carry `Expires`, `Signature`, `Key-Pair-Id`; custom ones
 * `Policy`, `Signature`, `Key-Pair-Id`; cookies are `CloudFront-Expires` (canned) or `CloudFront-Policy`
 * (custom), with `CloudFront-Signature` and `CloudFront-Key-Pair-Id`.
 */
export interface CloudFrontSigner {
  /** The public key's id in CloudFront (a key group's key, or a legacy key pair id). */
  keyPairId: string;
  /** The matching RSA private key (PEM or a KeyObject). */
  privateKey: string | KeyObject;
}

export interface CloudFrontPolicyInput {
  /** The URL (canned) or resource pattern (custom: `*` and `?` allowed). */
  resource: string;
  /** Epoch seconds after which requests are refused. */
  expires: number;
  /** Custom only: epoch seconds before which requests are refused. */
  notBefore?: number | undefined;
  /** Custom only: the viewer's address or CIDR range (`203.0.113.0/24`; a bare IPv4 address is `/32`). */
  ipAddress?: string | undefined;
}

/** CloudFront's URL-safe base64. */
export function cloudFrontBase64(bytes: Uint8Array | string): string {
  return Buffer.from(bytes).toString('base64').replace(/\+/g, '-').replace(/=/g, '_').replace(/\//g, '~');
}

function epoch(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new BadRequest('invalid_cloudfront_policy', `"${name}" must be whole epoch seconds`);
  return value;
}

/** The canned policy JSON CloudFront recomputes from `Expires`: exactly this text, no whitespace. */
export function cannedPolicy(url: string, expires: number): string {
  return JSON.stringify({
    Statement: [
      { Resource: url, Condition: { DateLessThan: { 'AWS:EpochTime': epoch(expires, 'expires') } } },
    ],
  });
}

const CIDR = /^(\d{1,3})(\.\d{1,3}){3}(\/\d{1,2})?$|^[0-9a-fA-F:]+(\/\d{1,3})?$/;

/** A custom policy JSON: the resource, DateLessThan, and DateGreaterThan / IpAddress when given. */
export function customPolicy(input: CloudFrontPolicyInput): string {
  const condition: Record<string, unknown> = {
    DateLessThan: { 'AWS:EpochTime': epoch(input.expires, 'expires') },
  };
  if (input.notBefore !== undefined) {
    if (epoch(input.notBefore, 'notBefore') >= input.expires)
      throw new BadRequest('invalid_cloudfront_policy', '"notBefore" must come before "expires"');
    condition.DateGreaterThan = { 'AWS:EpochTime': input.notBefore };
  }
  if (input.ipAddress !== undefined) {
    if (!CIDR.test(input.ipAddress))
      throw new BadRequest('invalid_cloudfront_policy', '"ipAddress" must be an address or a CIDR range');
    const ip = input.ipAddress.includes('/')
      ? input.ipAddress
      : `${input.ipAddress}/${input.ipAddress.includes(':') ? 128 : 32}`;
    condition.IpAddress = { 'AWS:SourceIp': ip };
  }
  return JSON.stringify({ Statement: [{ Resource: input.resource, Condition: condition }] });
}

/** The RSA-SHA1 signature of a policy, in CloudFront's base64. */
export function signCloudFrontPolicy(policy: string, signer: CloudFrontSigner): string {
  const sign = createSign('RSA-SHA1');
  sign.update(policy, 'utf8');
  try {
    return cloudFrontBase64(sign.sign(signer.privateKey));
  } catch {
    throw new BadRequest('invalid_cloudfront_key', 'the private key is not an RSA private key');
  }
}

function checkSigner(signer: CloudFrontSigner): void {
  if (!/^[A-Za-z0-9]{1,64}$/.test(signer.keyPairId))
    throw new BadRequest('invalid_cloudfront_key', 'the key pair id must be letters and digits');
}

/** Is the policy custom (a start, an address, or a resource other than the URL itself)? */
function isCustom(url: string, input: CloudFrontPolicyInput): boolean {
  return input.notBefore !== undefined || input.ipAddress !== undefined || input.resource !== url;
}

/**
 * A signed URL of `url`: canned when `policy` is just the URL and an expiry, else custom. The query
 * parameters are appended after the URL's own.
 */
export function cloudFrontSignedUrl(
  url: string,
  policy: Omit<CloudFrontPolicyInput, 'resource'> & { resource?: string | undefined },
  signer: CloudFrontSigner,
): string {
  checkSigner(signer);
  const input = { ...policy, resource: policy.resource ?? url };
  const sep = url.includes('?') ? '&' : '?';
  if (!isCustom(url, input)) {
    const signature = signCloudFrontPolicy(cannedPolicy(url, input.expires), signer);
    return `${url}${sep}Expires=${input.expires}&Signature=${signature}&Key-Pair-Id=${signer.keyPairId}`;
  }
  const text = customPolicy(input);
  const signature = signCloudFrontPolicy(text, signer);
  return `${url}${sep}Policy=${cloudFrontBase64(text)}&Signature=${signature}&Key-Pair-Id=${signer.keyPairId}`;
}

/**
 * Signed cookies for a resource: `CloudFront-Expires` with a canned policy (when the resource has no
 * `*` and there is no start or address), else `CloudFront-Policy`.
 */
export function cloudFrontSignedCookies(
  input: CloudFrontPolicyInput & { canned?: boolean | undefined },
  signer: CloudFrontSigner,
): Record<string, string> {
  checkSigner(signer);
  const canned =
    input.canned ??
    (input.notBefore === undefined && input.ipAddress === undefined && !input.resource.includes('*'));
  if (canned) {
    return {
      'CloudFront-Expires': String(epoch(input.expires, 'expires')),
      'CloudFront-Signature': signCloudFrontPolicy(cannedPolicy(input.resource, input.expires), signer),
      'CloudFront-Key-Pair-Id': signer.keyPairId,
    };
  }
  const text = customPolicy(input);
  return {
    'CloudFront-Policy': cloudFrontBase64(text),
    'CloudFront-Signature': signCloudFrontPolicy(text, signer),
    'CloudFront-Key-Pair-Id': signer.keyPairId,
  };
}
