/**
 * `vigil cloudfront sign`: CloudFront signed URLs and cookies, canned and custom, checked as CloudFront
 * checks them: the policy JSON rebuilt (canned) or decoded (custom) byte for byte, its RSA-SHA1
 * signature verified with node:crypto and the public key, CloudFront's base64 (`-`, `_`, `~`) undone.
 */
import assert from 'node:assert/strict';
import { createVerify, generateKeyPairSync } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli, tempDir } from '../../../test/support/vigil.ts';

const dir = tempDir('vigil-cloudfront-');
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const keyFile = join(dir, 'private.pem');
writeFileSync(keyFile, privateKey.export({ type: 'pkcs1', format: 'pem' }));
const KEY_PAIR = 'K2JCJMDEHXQW5F';
const URL_ = 'https://d111111abcdef8.cloudfront.net/origin/default/asset_1/manifest.mpd?vd=abc';

const unCloudFront = (s: string) =>
  Buffer.from(s.replace(/-/g, '+').replace(/_/g, '=').replace(/~/g, '/'), 'base64');
const verifies = (policy: string, signature: string) =>
  createVerify('RSA-SHA1').update(policy, 'utf8').verify(publicKey, unCloudFront(signature));
const sign = (...args: string[]) =>
  runCli(['cloudfront', 'sign', '--key-pair-id', KEY_PAIR, '--private-key', keyFile, ...args]);

describe('vigil cloudfront sign', { timeout: 60_000 }, () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a canned signed URL: Expires, Signature, Key-Pair-Id over the exact canned policy', async () => {
    const res = await sign('--url', URL_, '--expires', '2030-01-01T00:00:00Z');
    assert.equal(res.code, 0, res.stderr);
    const signed = res.stdout.trim();
    assert.ok(signed.startsWith(`${URL_}&Expires=1893456000&Signature=`), signed);
    const q = new URL(signed).searchParams;
    assert.equal(q.get('Key-Pair-Id'), KEY_PAIR);
    assert.equal(q.get('vd'), 'abc', "the URL's own query is kept");
    const signature = q.get('Signature')!;
    assert.match(signature, /^[A-Za-z0-9~_-]+$/, 'no +, = or / in the signature');
    const canned = `{"Statement":[{"Resource":"${URL_}","Condition":{"DateLessThan":{"AWS:EpochTime":1893456000}}}]}`;
    assert.ok(verifies(canned, signature), 'the signature verifies over the canned policy');
    assert.ok(!verifies(canned.replace('1893456000', '1893456001'), signature));
  });

  it('a custom signed URL: Policy (resource pattern, start, address range), Signature, Key-Pair-Id', async () => {
    const res = await sign(
      ...['--url', URL_, '--resource', 'https://d111111abcdef8.cloudfront.net/origin/default/asset_1/*'],
      ...['--expires', '1893456000', '--starts', '1893452400', '--ip', '203.0.113.7'],
    );
    assert.equal(res.code, 0, res.stderr);
    const q = new URL(res.stdout.trim()).searchParams;
    assert.equal(q.get('Expires'), null);
    const policy = unCloudFront(q.get('Policy')!).toString('utf8');
    assert.equal(
      policy,
      '{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/origin/default/asset_1/*","Condition":{"DateLessThan":{"AWS:EpochTime":1893456000},"DateGreaterThan":{"AWS:EpochTime":1893452400},"IpAddress":{"AWS:SourceIp":"203.0.113.7/32"}}}]}',
    );
    assert.ok(verifies(policy, q.get('Signature')!));
    assert.equal(q.get('Key-Pair-Id'), KEY_PAIR);
  });

  it('signed cookies, canned and custom', async () => {
    const cookies = async (...args: string[]): Promise<Record<string, string>> => {
      const res = await sign('--cookies', '--expires', '1893456000', ...args);
      assert.equal(res.code, 0, res.stderr);
      return Object.fromEntries(
        res.stdout
          .trim()
          .split('\n')
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      );
    };
    const canned = await cookies('--url', URL_);
    assert.deepEqual(Object.keys(canned).sort(), [
      'CloudFront-Expires',
      'CloudFront-Key-Pair-Id',
      'CloudFront-Signature',
    ]);
    assert.equal(canned['CloudFront-Expires'], '1893456000');
    assert.ok(
      verifies(
        `{"Statement":[{"Resource":"${URL_}","Condition":{"DateLessThan":{"AWS:EpochTime":1893456000}}}]}`,
        canned['CloudFront-Signature']!,
      ),
    );
    const custom = await cookies('--resource', 'https://d111111abcdef8.cloudfront.net/origin/default/*');
    assert.deepEqual(Object.keys(custom).sort(), [
      'CloudFront-Key-Pair-Id',
      'CloudFront-Policy',
      'CloudFront-Signature',
    ]);
    const policy = unCloudFront(custom['CloudFront-Policy']!).toString('utf8');
    assert.equal(
      JSON.parse(policy).Statement[0].Resource,
      'https://d111111abcdef8.cloudfront.net/origin/default/*',
    );
    assert.ok(verifies(policy, custom['CloudFront-Signature']!));
    assert.equal(custom['CloudFront-Key-Pair-Id'], KEY_PAIR);
  });

  it('refuses a start after the expiry and a bad key pair id', async () => {
    const late = await sign('--url', URL_, '--expires', '1893456000', '--starts', '1893456001');
    assert.equal(late.code, 2);
    assert.match(late.stderr, /notBefore/);
    const bad = await runCli([
      'cloudfront',
      'sign',
      '--url',
      URL_,
      '--key-pair-id',
      'no/id',
      '--private-key',
      keyFile,
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /key pair id/);
  });
});
