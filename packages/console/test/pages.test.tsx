/**
 * Pages' states, rendered by React into happy-dom and fed by a real Vigil (the client carries an API key
 * instead of the browser's session cookie): loading then data, empty, a failed call with what to do, the
 * readonly role's refusal, the viewer-token secret's rotation shown once, and the manual colour keyboard's
 * decoder.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { encodeTag } from '@vigil/watermark-codec';
import { flushSync } from 'react-dom';
import { createRoot, type Root } from 'react-dom/client';
import { call, startVigil, type TestServer } from '../../../test/support/vigil.ts';
import { ApiClient, type Role } from '../src/api.ts';
import { decodeTyped } from '../src/colour-keyboard.ts';
import { BansPage } from '../src/pages/bans.tsx';
import { OverviewPage } from '../src/pages/overview.tsx';
import { SettingsPage } from '../src/pages/settings.tsx';
import { WatermarkPage } from '../src/pages/watermark.tsx';
import { Ctx } from '../src/ui.tsx';
import { installDom, until } from './dom.ts';

describe('console pages', () => {
  let vigil: TestServer;
  let dom: ReturnType<typeof installDom>;
  let root: Root | undefined;
  let readonlyKey = '';

  before(async () => {
    vigil = await startVigil();
    dom = installDom();
    const res = await call(`${vigil.url}/v1/apikeys`, { token: vigil.apiKey, body: { role: 'readonly' } });
    readonlyKey = res.body.key;
  });
  after(async () => {
    root?.unmount();
    await dom.close();
    await vigil.close();
  });

  async function render(page: React.ReactNode, key: string, role: Role, base = vigil.url) {
    root?.unmount();
    document.body.innerHTML = '<div id="root"></div>';
    const client = new ApiClient(base, {}, { authorization: `Bearer ${key}` });
    root = createRoot(document.getElementById('root')!);
    // Rendered at once, so the first state (loading) is there before any answer.
    flushSync(() =>
      root!.render(
        <Ctx.Provider
          value={{ client, operator: { name: 'test', role, tenantId: 'default' }, notify: () => {} }}
        >
          {page}
        </Ctx.Provider>,
      ),
    );
  }
  const text = () => document.body.textContent ?? '';
  const button = (name: string) =>
    [...document.querySelectorAll('button')].find(
      (b) => (b.getAttribute('aria-label') ?? b.textContent) === name,
    );

  test('overview: loading, then the chart and the figures', async () => {
    await render(<OverviewPage />, vigil.apiKey, 'admin');
    assert.match(text(), /Loading stats…/);
    const svg = await until('the chart', () => document.querySelector('svg[role="img"]'));
    assert.match(
      svg.getAttribute('aria-label') ?? '',
      /License requests per minute over the last \d+ minutes/,
    );
    await until(
      'the empty states',
      () => /No denials in this window\./.test(text()) && /No live channels\./.test(text()),
    );
    assert.match(text(), /No tamper reports in the last hour\./);
  });

  test('bans: empty, then a ban listed with its one-click lift', async () => {
    await render(<BansPage />, vigil.apiKey, 'operator');
    await until('the empty state', () => /No bans\. Nobody is banned right now\./.test(text()));
    const res = await call(`${vigil.url}/v1/bans`, {
      token: vigil.apiKey,
      body: { sessionId: 'leaky-1', reason: 'restream' },
    });
    assert.equal(res.status, 201);
    await render(<BansPage />, vigil.apiKey, 'operator');
    const lift = await until('the ban', () => button('Lift the ban on session leaky-1'));
    assert.match(text(), /restream/);
    lift.click();
    await until('the ban to go', () => /No bans\./.test(text()));
    assert.equal((await call(`${vigil.url}/v1/bans`, { token: vigil.apiKey })).body.bans.length, 0);
  });

  test("watermark: a readonly operator's switch is refused with their role named", async () => {
    await render(<WatermarkPage />, readonlyKey, 'readonly');
    const sw = await until('the switch', () =>
      document.querySelector<HTMLInputElement>('input[role="switch"]'),
    );
    assert.equal(sw.checked, true);
    assert.match(text(), /Your role \(readonly\) can look but not change the watermark\./);
    sw.click();
    const alert = await until('the refusal', () => document.querySelector('[role="alert"]'));
    assert.equal(
      alert.textContent,
      "Switching the watermark failed: your role (readonly) can't do this. Ask an admin of this tenant.",
    );
    assert.equal((await call(`${vigil.url}/v1/watermark`, { token: vigil.apiKey })).body.enabled, true);
  });

  test('a server that is gone: the page says so and offers a retry', async () => {
    await render(<BansPage />, vigil.apiKey, 'operator', 'http://127.0.0.1:9');
    const alert = await until('the error', () => document.querySelector('[role="alert"]'));
    assert.match(alert.textContent ?? '', /Loading the bans failed: Vigil is not reachable\./);
    assert.ok(button('Try again'));
  });

  test('settings: the viewer-token secret is rotated and the new one shown once', async () => {
    await render(<SettingsPage />, readonlyKey, 'readonly');
    await until('the refusal', () => /Your role \(readonly\) can't rotate the secret\./.test(text()));
    await render(<SettingsPage />, vigil.apiKey, 'admin');
    const rotate = await until('the button', () => button('Rotate the secret'));
    const confirm = globalThis.confirm;
    globalThis.confirm = () => true;
    try {
      rotate.click();
      const shown = await until('the new secret', () =>
        document.querySelector<HTMLInputElement>('#new-secret'),
      );
      assert.ok(shown.value.length >= 32 && shown.value !== vigil.secret);
    } finally {
      globalThis.confirm = confirm;
    }
    assert.match(text(), /Tokens signed with the old secret are accepted until/);
    const tenant = await call(`${vigil.url}/v1/tenant`, { token: vigil.apiKey });
    assert.ok(tenant.body.previousSecretValidUntil > Date.now() + 3000_000, JSON.stringify(tenant.body));
  });

  test('the colour keyboard decodes a typed cycle from any point, with a wrong colour or two', () => {
    const tag = 0x1234abcd;
    const seq = encodeTag(tag);
    const rotated = [...seq.slice(11), ...seq.slice(0, 11)];
    assert.equal(decodeTyped(rotated)?.tag, tag);
    const typo = [...rotated];
    typo[3] = (typo[3]! + 1) % 8;
    assert.equal(decodeTyped(typo)?.tag, tag);
    assert.equal(decodeTyped(rotated.slice(1)), null, 'a short sequence is refused');
  });
});
