import { signDelivery } from '@vigil/control';
import { canonicalIp, DEFAULT_TENANT } from '@vigil/core';
import { DeliverySigner, signedOriginUrl } from '@vigil/server';
import { SignJWT } from 'jose';
import { type Command, cliActor, need, options, out, str, withStore } from '../command.ts';
import { UsageError } from '../usage-error.ts';

export const tokenCommand: Command = {
  options: options(['session', 'resource', 'ip', 'ttl', 'sub', 'path', 'server']),
  async run(values) {
    const ip = canonicalIp(need(values, 'ip'));
    if (ip === null) throw new UsageError('--ip must be an IP address');
    const ttl = Number(str(values, 'ttl') ?? 3600);
    if (!Number.isInteger(ttl) || ttl <= 0)
      throw new UsageError('--ttl must be a positive number of seconds');
    const lines = await withStore(values, async (store, tenantId) => {
      const tenant = (await store.getTenant(tenantId))!;
      const claims: Record<string, unknown> = {
        sessionId: need(values, 'session'),
        resourceId: need(values, 'resource'),
        ip,
      };
      if (tenantId !== DEFAULT_TENANT) claims.tenant = tenantId;
      const sub = str(values, 'sub');
      const jwt = new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuedAt()
        .setExpirationTime(`${ttl}s`);
      const viewer = await (sub ? jwt.setSubject(sub) : jwt).sign(tenant.secret);
      const path = str(values, 'path');
      if (path === undefined) return [viewer];
      // The signed origin URL of a file of the resource, for the same viewer and address.
      const signer = new DeliverySigner(store.envelope);
      const { issue, file } = await signDelivery({ signer, deliveryTtlSeconds: ttl }, cliActor(tenantId), {
        resourceId: claims.resourceId as string,
        ttlSeconds: ttl,
        ip,
        sessionId: claims.sessionId as string,
        path,
      });
      const server = str(values, 'server') ?? 'http://127.0.0.1:8080';
      return [viewer, signedOriginUrl(server, issue, file!)];
    });
    for (const line of lines) out(line);
  },
};
