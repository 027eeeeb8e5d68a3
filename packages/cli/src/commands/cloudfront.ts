import { readFileSync } from 'node:fs';
import { BadRequest, cloudFrontSignedCookies, cloudFrontSignedUrl } from '@vigil/core';
import { type Command, need, options, out, str } from '../command.ts';
import { UsageError } from '../usage-error.ts';

/** Epoch seconds of `--expires` (date-time or epoch seconds) or now + `--ttl`. */
function expiresOf(values: Parameters<Command['run']>[0], now: number): number {
  const expires = str(values, 'expires');
  const ttl = str(values, 'ttl');
  if (expires !== undefined) return timeOf(expires, '--expires');
  const seconds = Number(ttl ?? 3600);
  if (!Number.isInteger(seconds) || seconds <= 0)
    throw new UsageError('--ttl must be a positive number of seconds');
  return Math.floor(now / 1000) + seconds;
}

function timeOf(value: string, name: string): number {
  if (/^\d+$/.test(value)) return Number(value);
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw new UsageError(`${name} must be a date-time or epoch seconds`);
  return Math.floor(ms / 1000);
}

/**
 * `vigil cloudfront sign --url <url> --key-pair-id <id> --private-key <pem file>`: a CloudFront signed
 * URL (canned; custom with `--resource <pattern>`, `--starts` or `--ip`), or with `--cookies` the signed
 * cookies, one `Name=Value` a line. Nothing is stored: the key stays the caller's.
 */
export const cloudfrontCommand: Command = {
  options: options(
    ['url', 'resource', 'key-pair-id', 'private-key', 'expires', 'ttl', 'starts', 'ip'],
    ['cookies'],
  ),
  async run(values, positionals) {
    if (positionals[0] !== 'sign') throw new UsageError('usage: vigil cloudfront sign --url <url> ...');
    const signer = {
      keyPairId: need(values, 'key-pair-id'),
      privateKey: readFileSync(need(values, 'private-key'), 'utf8'),
    };
    const now = Date.now();
    const starts = str(values, 'starts');
    const policy = {
      expires: expiresOf(values, now),
      notBefore: starts === undefined ? undefined : timeOf(starts, '--starts'),
      ipAddress: str(values, 'ip'),
    };
    try {
      if (values.cookies === true) {
        const resource = str(values, 'resource') ?? need(values, 'url');
        for (const [name, value] of Object.entries(cloudFrontSignedCookies({ ...policy, resource }, signer)))
          out(`${name}=${value}`);
        return;
      }
      out(cloudFrontSignedUrl(need(values, 'url'), { ...policy, resource: str(values, 'resource') }, signer));
    } catch (err) {
      if (err instanceof BadRequest) throw new UsageError(err.message);
      throw err;
    }
  },
};
