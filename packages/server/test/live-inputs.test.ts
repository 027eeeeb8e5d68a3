/**
 * Inputs given through the control API make the server listen, never connect out, unless the key has the
 * platform role: SRT caller and rendezvous modes are refused (input_outbound_forbidden), so is a host name
 * to listen on; every URL option is read against an allow-list with checked values
 * (input_option_not_allowed, input_option_invalid) and the URL is stored rebuilt, not as given. A refused
 * definition stores nothing. The platform key may make an SRT input call out.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, startVigil, type TestServer } from '../../../test/support/vigil.ts';

describe('live inputs through the API', () => {
  let server: TestServer;
  let operator: string;

  before(async () => {
    server = await startVigil();
    const op = await call(`${server.url}/v1/apikeys`, { token: server.apiKey, body: { role: 'operator' } });
    assert.equal(op.status, 201, JSON.stringify(op.body));
    operator = op.body.key;
  });
  after(async () => {
    await server.close();
  });

  const put = (id: string, input: unknown, token = operator) =>
    call(`${server.url}/v1/live/channels/${id}`, { method: 'PUT', token, body: { input, start: false } });
  const get = (id: string) => call(`${server.url}/v1/live/channels/${id}`, { token: server.apiKey });

  it('refuses inputs that make the server connect out, and options not on the allow-list', async () => {
    const cases: [unknown, string][] = [
      ['srt://10.0.0.5:5000?mode=caller', 'input_outbound_forbidden'],
      ['srt://10.0.0.5:5000?mode=rendezvous', 'input_outbound_forbidden'],
      [{ kind: 'srt', url: 'srt://10.0.0.5:5000?latency=200000&mode=caller' }, 'input_outbound_forbidden'],
      ['srt://internal.example:5000', 'input_outbound_forbidden'],
      ['rtmp://intranet-host:1935/live/k', 'input_outbound_forbidden'],
      ['srt://0.0.0.0:9000?localip=10.0.0.5', 'input_option_not_allowed'],
      ['srt://0.0.0.0:9000?mode=listener&connect_timeout=1', 'input_option_not_allowed'],
      ['srt://0.0.0.0:9000?MODE=caller', 'input_option_not_allowed'],
      ['rtmp://0.0.0.0:1935/live/k?tcurl=rtmp://10.0.0.5/x', 'input_option_not_allowed'],
      ['srt://0.0.0.0:9000?mode=dial', 'input_option_invalid'],
      ['srt://0.0.0.0:9000?mode=listener&mode=caller', 'input_option_invalid'],
      ['srt://0.0.0.0:9000?latency=-5', 'input_option_invalid'],
      ['srt://0.0.0.0:9000?passphrase=short', 'input_option_invalid'],
      ['srt://0.0.0.0:9000?streamid=a%26mode%3Dcaller', 'input_option_invalid'],
      ['srt://user:pw@0.0.0.0:9000', 'input_url_invalid'],
      ['srt://0.0.0.0', 'input_url_invalid'],
      ['srt://0.0.0.0:9000/path', 'input_url_invalid'],
      ['srt://0.0.0.0:9000#mode=caller', 'input_url_invalid'],
      ['rtmp://0.0.0.0:1935/live/../k', 'input_url_invalid'],
      ['rtmp://0.0.0.0:1935/live/k k', 'input_url_invalid'],
      ['srt://0.0.0.0:80', 'invalid_channel'],
    ];
    for (const [input, code] of cases) {
      const res = await put('out', input);
      assert.equal(res.status, 400, `${JSON.stringify(input)} → ${res.status} ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, code, `${JSON.stringify(input)}: ${JSON.stringify(res.body)}`);
      assert.ok(res.body.message.length > 10);
    }
    assert.equal((await get('out')).status, 404, 'nothing was stored');
  });

  it('accepts listening inputs with allowed options, stored as rebuilt', async () => {
    const cases: [unknown, { kind: string; url: string }][] = [
      ['srt://0.0.0.0:9000', { kind: 'srt', url: 'srt://0.0.0.0:9000' }],
      [
        'srt://[::]:9001?mode=listener&latency=120000&passphrase=correct-horse-battery&pbkeylen=16',
        {
          kind: 'srt',
          url: 'srt://[::]:9001?mode=listener&latency=120000&passphrase=correct-horse-battery&pbkeylen=16',
        },
      ],
      [
        { kind: 'srt', url: 'SRT://127.0.0.1:9002?streamid=match:42' },
        { kind: 'srt', url: 'srt://127.0.0.1:9002?streamid=match:42' },
      ],
      [
        'rtmp://localhost:1936/live/s3cret-key',
        { kind: 'rtmp', url: 'rtmp://localhost:1936/live/s3cret-key' },
      ],
    ];
    for (const [i, [input, stored]] of cases.entries()) {
      const res = await put(`listen-${i}`, input);
      assert.equal(res.status, 201, `${JSON.stringify(input)} → ${JSON.stringify(res.body)}`);
      assert.deepEqual(res.body.settings.input, stored);
    }
  });

  it('lets the platform key make an SRT input call out', async () => {
    const res = await put('pull', 'srt://10.0.0.5:5000?mode=caller&latency=200000', server.apiKey);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.deepEqual(res.body.settings.input, {
      kind: 'srt',
      url: 'srt://10.0.0.5:5000?mode=caller&latency=200000',
    });
    const named = await put('pull-named', 'srt://ingest.example:5000?mode=caller', server.apiKey);
    assert.equal(named.status, 201, JSON.stringify(named.body));
    // Options stay on the allow-list for the platform too.
    const option = await put('pull-opt', 'srt://10.0.0.5:5000?mode=caller&localport=4000', server.apiKey);
    assert.equal(option.status, 400);
    assert.equal(option.body.code, 'input_option_not_allowed');
    // An operator may not turn the platform's channel into another outbound one.
    const change = await put('pull', 'srt://10.0.0.6:5000?mode=caller');
    assert.equal(change.status, 400);
    assert.equal(change.body.code, 'input_outbound_forbidden');
    assert.equal(
      (await get('pull')).body.settings.input.url,
      'srt://10.0.0.5:5000?mode=caller&latency=200000',
    );
  });
});
