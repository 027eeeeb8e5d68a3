import { createSampleIntegration } from './index.ts';

function fail(message: string): never {
  process.stderr.write(`vigil-sample-integration: ${message}\n`);
  process.exit(2);
}

function env(name: string, what: string): string {
  const value = process.env[name]?.trim();
  if (!value) fail(`${name} is not set (${what})`);
  return value;
}

const vigilUrl = env('VIGIL_URL', 'the Vigil server URL, e.g. http://127.0.0.1:8080');
const apiKey = env('VIGIL_API_KEY', 'a Vigil API key of the tenant, admin role');
const jwtSecret = env('VIGIL_JWT_SECRET', "the tenant's viewer-token secret");
try {
  const url = new URL(vigilUrl);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error();
} catch {
  fail(`VIGIL_URL is not an http(s) URL: "${vigilUrl}"`);
}
const portText = process.env.PORT?.trim() || '8081';
const port = Number(portText);
if (!/^\d+$/.test(portText) || port > 65535) fail(`PORT must be a port number, not "${portText}"`);
const host = process.env.HOST?.trim() || '127.0.0.1';

const app = createSampleIntegration({ vigilUrl, apiKey, jwtSecret });
try {
  const address = await app.listen({ port, host });
  process.stdout.write(`Sample integration listening on ${address}\n`);
} catch (err) {
  fail(`cannot listen on ${host}:${port}: ${(err as Error).message}`);
}

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await app.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
