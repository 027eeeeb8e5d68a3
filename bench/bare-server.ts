/**
 * The ceiling for bench/license.ts: the same Fastify, logger off, one route `POST /bare` that parses the
 * JSON body and answers a fixed JSON body (BARE_BODY, the bench passes a real license answer so the
 * sizes match). Prints `bare listening on <url>` once it accepts connections; stops on SIGTERM/SIGINT.
 */
import Fastify from 'fastify';

const body = process.env.BARE_BODY ?? JSON.stringify({ keys: [{ kty: 'oct', k: 'x'.repeat(22) }] });

const app = Fastify({ logger: false });
app.post('/bare', async (_request, reply) => {
  reply.header('cache-control', 'no-store').type('application/json; charset=utf-8');
  return body;
});

const address = await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
process.stdout.write(`bare listening on ${address}\n`);

const stop = async () => {
  await app.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
