/**
 * The CLI and the control API are two adapters over the same operations (@vigil/control): the same
 * input gets the same outcome through either, accepted by both or refused by both with the same code.
 * One `vigil serve` answers the API; the CLI runs against the same data folder (SQLite lets several
 * processes share it) with VIGIL_ERROR_CODES=1, so its one stderr line carries the code.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type ChildServer, call, runCli, spawnVigil, tempDir } from '../../../test/support/vigil.ts';

const API_KEY = 'vk_parity_platform_key_0123456789';
const env = {
  VIGIL_MASTER_KEY: '44'.repeat(32),
  VIGIL_JWT_SECRET: 'parity-test-secret-0123456789abcdefgh',
  VIGIL_API_KEY: API_KEY,
};

interface Case {
  name: string;
  cli: string[];
  api: { method: string; path: string; body?: unknown };
  /** 'ok', or the code both must refuse with. */
  expect: string;
}

const future = new Date(Date.now() + 86400_000).toISOString();
const past = new Date(Date.now() - 86400_000).toISOString();
const tokenArgs = ['token', '--session', 's-1', '--resource', 'film', '--ip', '127.0.0.1', '--ttl', '600'];
const signBody = { resourceId: 'film', sessionId: 's-1', ip: '127.0.0.1', ttlSeconds: 600 };

/** Each side gets its own id where a valid create would clash with the other side's. */
const cases = (side: 'cli' | 'api'): Case[] => [
  // bans
  ...(
    [
      ['a session', ['--session', 'pirate-1'], { sessionId: 'pirate-1' }, 'ok'],
      [
        'an expiry ahead',
        ['--session', 'p-2', '--expires', future],
        { sessionId: 'p-2', expiresAt: future },
        'ok',
      ],
      [
        'a past expiry',
        ['--session', 'p-3', '--expires', past],
        { sessionId: 'p-3', expiresAt: past },
        'invalid_ban',
      ],
      [
        'an expiry that is no date',
        ['--session', 'p-4', '--expires', 'tomorrow'],
        { sessionId: 'p-4', expiresAt: 'tomorrow' },
        'invalid_request',
      ],
      [
        'a date without a time',
        ['--session', 'p-5', '--expires', '2099-01-01'],
        { sessionId: 'p-5', expiresAt: '2099-01-01' },
        'invalid_request',
      ],
      [
        'a session and an address',
        ['--session', 'p-6', '--ip', '203.0.113.8'],
        { sessionId: 'p-6', ip: '203.0.113.8' },
        'invalid_ban',
      ],
      ['neither', [], {}, 'invalid_ban'],
      ['a malformed address', ['--ip', '300.1.2.3'], { ip: '300.1.2.3' }, 'invalid_ban'],
      ['a range wider than /16', ['--ip', '10.0.0.0/8'], { ip: '10.0.0.0/8' }, 'invalid_ban'],
    ] as const
  ).map(([what, args, body, expect]) => ({
    name: `ban ${what}`,
    cli: ['ban', ...args],
    api: { method: 'POST', path: '/v1/bans', body },
    expect,
  })),
  {
    name: 'unban an unknown ban',
    cli: ['unban', 'no-such-ban'],
    api: { method: 'DELETE', path: '/v1/bans/no-such-ban' },
    expect: 'not_found',
  },
  // content keys
  ...(
    [
      ['for an hour', ['--ttl', '3600'], { ttlSeconds: 3600 }, 'ok'],
      ['with a negative TTL', ['--ttl=-5'], { ttlSeconds: -5 }, 'invalid_request'],
      ['with a TTL under a minute', ['--ttl', '59'], { ttlSeconds: 59 }, 'invalid_request'],
      ['with a huge TTL', ['--ttl', '10000000000'], { ttlSeconds: 1e10 }, 'invalid_request'],
      ['of an unknown track type', ['--track', 'xl'], { trackTypes: ['xl'] }, 'invalid_request'],
    ] as const
  ).map(([what, args, body, expect]) => ({
    name: `keys ${what}`,
    cli: ['keys', 'create', '--resource', 'film', ...args],
    api: { method: 'POST', path: '/v1/keys', body: { resourceId: 'film', ...body } },
    expect,
  })),
  {
    name: 'keys of a resource id with a space',
    cli: ['keys', 'create', '--resource', 'my film'],
    api: { method: 'POST', path: '/v1/keys', body: { resourceId: 'my film' } },
    expect: 'invalid_request',
  },
  // watermark config
  ...(
    [
      ['mode=color', { mode: 'color' }, 'ok'],
      ['mode=rainbow', { mode: 'rainbow' }, 'invalid_request'],
      ['textOpacity=5', { textOpacity: 5 }, 'invalid_watermark_config'],
      ['colour=red', { colour: 'red' }, 'invalid_request'],
    ] as const
  ).map(([pair, body, expect]) => ({
    name: `config set ${pair}`,
    cli: ['config', 'set', pair],
    api: { method: 'PUT', path: '/v1/watermark', body },
    expect,
  })),
  // tenants
  ...(
    [
      [`acme-${side}`, 'ok'],
      ['dup-tenant', 'tenant_exists'],
      ['Upper', 'invalid_request'],
      ['-dash-first', 'invalid_request'],
      ['a'.repeat(65), 'invalid_request'],
    ] as const
  ).map(([id, expect]) => ({
    name: `tenant create ${id.length > 20 ? `${id.slice(0, 8)}…(${id.length})` : id.replace(side, '<side>')}`,
    cli: ['tenant', 'create', '--', id],
    api: { method: 'POST', path: '/v1/tenants', body: { id } },
    expect,
  })),
  // the viewer-token secret's rotation (refusals only: a rotation would change the secret the cases sign with)
  ...(
    [
      [-1, 'invalid_request'],
      [1.5, 'invalid_request'],
    ] as const
  ).map(([grace, expect]) => ({
    name: `tenant rotate-secret --grace ${grace}`,
    cli: ['tenant', 'rotate-secret', `--grace=${grace}`],
    api: { method: 'POST', path: '/v1/tenant/secret/rotate', body: { graceSeconds: grace } },
    expect,
  })),
  // API keys
  ...(
    [
      ['readonly', 'same name', 'ok'],
      ['readonly', 'same name', 'ok'],
      ['platform', undefined, 'invalid_request'],
      ['superuser', undefined, 'invalid_request'],
    ] as const
  ).map(([role, name, expect]) => ({
    name: `apikey create --role ${role}${name ? ` --name ${name.slice(0, 9)}` : ''}`,
    cli: ['apikey', 'create', '--role', role, ...(name ? ['--name', name] : [])],
    api: { method: 'POST', path: '/v1/apikeys', body: { role, ...(name ? { name } : {}) } },
    expect,
  })),
  {
    name: 'apikey revoke an unknown prefix',
    cli: ['apikey', 'revoke', 'vk_zzzzz'],
    api: { method: 'DELETE', path: '/v1/apikeys/vk_zzzzz' },
    expect: 'not_found',
  },
  {
    name: 'apikey revoke a short prefix',
    cli: ['apikey', 'revoke', 'vk_z'],
    api: { method: 'DELETE', path: '/v1/apikeys/vk_z' },
    expect: 'invalid_request',
  },
  // live channels
  {
    name: 'live start with a bad channel id',
    cli: ['live', 'start', 'bad!id'],
    api: { method: 'PUT', path: '/v1/live/channels/bad!id', body: {} },
    expect: 'invalid_request',
  },
  {
    name: 'live start with a key period not a multiple of the segment',
    cli: ['live', 'start', 'ch-1', '--key-period', '3'],
    api: { method: 'PUT', path: '/v1/live/channels/ch-1', body: { keyPeriodSeconds: 3 } },
    expect: 'invalid_channel',
  },
  {
    name: 'live stop of an unknown channel',
    cli: ['live', 'stop', 'nope'],
    api: { method: 'POST', path: '/v1/live/channels/nope/stop' },
    expect: 'channel_not_found',
  },
  // delivery signing
  {
    name: 'sign delivery of a file',
    cli: [...tokenArgs, '--path', 'manifest.mpd'],
    api: { method: 'POST', path: '/v1/delivery/sign', body: { ...signBody, path: 'manifest.mpd' } },
    expect: 'ok',
  },
  {
    name: 'sign delivery of a path out of the folder',
    cli: [...tokenArgs, '--path', '../other/manifest.mpd'],
    api: { method: 'POST', path: '/v1/delivery/sign', body: { ...signBody, path: '../other/manifest.mpd' } },
    expect: 'invalid_path',
  },
];

// Three cases at a time: each CLI run is a process start.
describe('the CLI and the control API agree', { concurrency: 3 }, () => {
  const dir = tempDir();
  let server: ChildServer;

  before(async () => {
    server = await spawnVigil(['--data', dir, '--no-demo'], env);
    const dup = await call(`${server.url}/v1/tenants`, { token: API_KEY, body: { id: 'dup-tenant' } });
    assert.equal(dup.status, 201);
  });
  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const viaCli = async (args: string[]): Promise<string> => {
    const res = await runCli([args[0]!, '--data', dir, ...args.slice(1)], { ...env, VIGIL_ERROR_CODES: '1' });
    if (res.code === 0) return 'ok';
    const lines = res.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line on stderr: ${res.stderr}`);
    return /^error: ([a-z_]+): /.exec(lines[0]!)?.[1] ?? `unexpected: ${lines[0]}`;
  };
  const viaApi = async (req: Case['api']): Promise<string> => {
    const res = await call(`${server.url}${req.path}`, {
      token: API_KEY,
      method: req.method,
      body: req.body,
    });
    if (res.status < 300) return 'ok';
    assert.ok(res.status < 500, `${req.method} ${req.path}: ${res.status}`);
    return res.body.code;
  };

  const cli = cases('cli');
  const api = cases('api');
  for (const [i, c] of cli.entries()) {
    it(`${c.name}: ${c.expect === 'ok' ? 'accepted' : c.expect}`, async () => {
      const [byCli, byApi] = await Promise.all([viaCli(c.cli), viaApi(api[i]!.api)]);
      assert.deepEqual({ cli: byCli, api: byApi }, { cli: c.expect, api: c.expect });
    });
  }

  it('revokes a key by its prefix through either, and then finds it no more', async () => {
    const made = await Promise.all(
      [0, 1].map(() => call(`${server.url}/v1/apikeys`, { token: API_KEY, body: { role: 'operator' } })),
    );
    const [forCli, forApi] = made.map((r) => (r.body.key as string).slice(0, 8));
    const revoke = { method: 'DELETE', path: `/v1/apikeys/${forApi}` };
    assert.deepEqual(await Promise.all([viaCli(['apikey', 'revoke', forCli!]), viaApi(revoke)]), [
      'ok',
      'ok',
    ]);
    const again = [viaCli(['apikey', 'revoke', forCli!]), viaApi(revoke)];
    assert.deepEqual(await Promise.all(again), ['not_found', 'not_found']);
  });

  it('gives a refusal one line with the code only when asked, and the same message without it', async () => {
    const plain = await runCli(['ban', '--session', 'p-9', '--expires', past, '--data', dir], env);
    assert.equal(plain.code, 1);
    assert.equal(plain.stderr.trim(), 'vigil: "expiresAt" must be a date-time in the future');
  });
});
