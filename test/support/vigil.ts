/**
 * Starting real Vigil servers for tests: in-process (buildApp over a fresh store, listening on
 * 127.0.0.1 and a random port) or as a child `vigil serve` process for crash tests. Every server a test
 * starts, it stops.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { LiveManager } from '@vigil/live';
import { buildApp, ensureDefaultTenant, openStore, type ServerConfig, seedApiKey } from '@vigil/server';
import type { VigilStore } from '@vigil/store';
import { SignJWT } from 'jose';

export const REPO = resolve(import.meta.dirname, '../..');
export const VIGIL_BIN = join(REPO, 'packages/cli/bin/vigil.mjs');
/** The PostgreSQL the suite runs against; CI must have it (the tests fail loudly otherwise). */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function tempDir(prefix = 'vigil-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A PostgreSQL schema name of its own for one test file, so runs never see each other's rows. */
export function uniqueSchema(): string {
  return `t_${randomBytes(6).toString('hex')}`;
}

export interface TestServer {
  url: string;
  store: VigilStore;
  /** The default tenant's HS256 secret. */
  secret: string;
  /** A platform API key of the default tenant. */
  apiKey: string;
  live?: LiveManager | undefined;
  /** The embedded store's folder (origin files under `origin/`), for servers startVigil started. */
  dataDir?: string;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Defaults to a new temporary folder (embedded store). */
  dataDir?: string;
  /** Use PostgreSQL instead of the embedded store. */
  databaseUrl?: string;
  pgSchema?: string;
  masterKey?: string;
  config?: Partial<ServerConfig>;
  /** Run live channels here (origin in `<dataDir>/origin`), restarting ffmpeg after `minBackoffMs`. */
  live?: { minBackoffMs?: number };
  /** Where to listen; default 127.0.0.1 (`::1` or `::` for IPv6 tests). */
  host?: string;
  /**
   * The default tenant's configured secret (as VIGIL_JWT_SECRET): default a new random one; `null` for
   * none, so a stored secret (a rotated one) stays.
   */
  jwtSecret?: string | null;
}

/** Starts Vigil in this process on 127.0.0.1 (or `opts.host`) and a random port. */
export async function startVigil(opts: StartOptions = {}): Promise<TestServer> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? tempDir();
  const configured =
    opts.jwtSecret === undefined ? `test-secret-${randomBytes(12).toString('hex')}` : opts.jwtSecret;
  const apiKey = `vk_test_${randomBytes(16).toString('hex')}`;
  const store = await openStore({
    dataDir,
    databaseUrl: opts.databaseUrl,
    pgSchema: opts.pgSchema,
    masterKey: opts.masterKey ?? '11'.repeat(32),
  });
  await ensureDefaultTenant(store, configured ?? undefined);
  const secret = configured ?? (await store.getTenant('default'))!.secret.toString('utf8');
  await seedApiKey(store, apiKey);
  let url = '';
  const live = opts.live
    ? new LiveManager({
        store,
        originRoot: join(dataDir, 'origin'),
        workRoot: join(dataDir, 'live-work'),
        keyServerUrl: () => url,
        minBackoffMs: opts.live.minBackoffMs,
        statusIntervalMs: 1000,
      })
    : undefined;
  const app = await buildApp({
    store,
    live,
    config: {
      statsFlushMs: 200,
      originRoot: join(dataDir, 'origin'),
      mediaRoot: join(dataDir, 'media'),
      ...opts.config,
    },
  });
  url = await app.listen({ port: 0, host: opts.host ?? '127.0.0.1' });
  await live?.start();
  return {
    url,
    store,
    secret,
    apiKey,
    live,
    dataDir,
    async close() {
      await live?.close();
      await app.close();
      await store.close();
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ViewerTokenInput {
  sessionId?: string;
  resourceId?: string;
  ip?: string;
  tenant?: string;
  /** Seconds from now; negative for an expired token. */
  expiresIn?: number;
  iat?: number;
  nbf?: number;
  sub?: string;
  [claim: string]: unknown;
}

/** Mints an HS256 viewer token the way a tenant's backend would. */
export async function viewerToken(secret: string, input: ViewerTokenInput = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const { expiresIn = 600, iat = now, ...rest } = input;
  const claims = { sessionId: 'session-1', resourceId: 'resource-1', ip: '127.0.0.1', ...rest };
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(iat)
    .setExpirationTime(now + expiresIn)
    .sign(new TextEncoder().encode(secret));
}

/** fetch with a JSON body and an optional bearer token; returns status, parsed body and headers. */
export async function call(
  url: string,
  init: {
    method?: string;
    token?: string;
    body?: unknown;
    rawBody?: string | Buffer;
    headers?: Record<string, string>;
  } = {},
  // biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON a route answers
): Promise<{ status: number; body: any; headers: Headers; raw: Buffer }> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  let body: string | Buffer | undefined = init.rawBody;
  if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(url, {
    method: init.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    body: body as BodyInit | undefined,
  });
  const raw = Buffer.from(await res.arrayBuffer());
  let parsed: unknown = raw.toString('utf8');
  if ((res.headers.get('content-type') ?? '').includes('json')) parsed = JSON.parse(raw.toString('utf8'));
  return { status: res.status, body: parsed, headers: res.headers, raw };
}

/** Creates content keys through the admin API and returns their kids (hex). */
export async function createKeys(server: TestServer, resourceId: string, periods = 1): Promise<string[]> {
  const res = await call(`${server.url}/v1/keys`, { token: server.apiKey, body: { resourceId, periods } });
  if (res.status !== 201) throw new Error(`creating keys failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.keys.map((k: { kid: string }) => k.kid);
}

export const kidB64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64url');

export interface ChildServer {
  url: string;
  child: ChildProcess;
  /** Everything the process printed so far. */
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
}

/** Runs `vigil serve` as a child process and waits for its "listening" line. */
export async function spawnVigil(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<ChildServer> {
  const child = spawn(process.execPath, [VIGIL_BIN, 'serve', '--port', '0', ...args], {
    env: { ...process.env, VIGIL_DEMO: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr!.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const url = await new Promise<string>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`vigil serve did not start:\n${output}`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`vigil serve exited with ${code}:\n${output}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      output += `${line}\n`;
      const m = /Vigil listening on (\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        done(m[1]!);
      }
    });
  });
  const signal = async (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    await exited;
  };
  return { url, child, output: () => output, stop: () => signal('SIGTERM'), kill: () => signal('SIGKILL') };
}

/** Runs the `vigil` CLI to completion; `input`, when given, is written to its stdin. */
export async function runCli(
  args: string[],
  env: Record<string, string> = {},
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [VIGIL_BIN, ...args], {
    env: { ...process.env, VIGIL_DEMO: '0', ...env },
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (input !== undefined) child.stdin!.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => {
    stdout += d;
  });
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const code = await new Promise<number>((done) => child.once('exit', (c) => done(c ?? 1)));
  return { code, stdout, stderr };
}

/** Polls `probe` until it gives a value (not undefined or false), or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
