/**
 * License-path benchmark: `vigil serve` (embedded store) against a bare Fastify server, both as child
 * processes, loaded in turn by autocannon from this process. See bench/README.md.
 *
 *   npm run bench:license            BENCH_SECONDS=5 BENCH_ROUNDS=3 BENCH_WARMUP_SECONDS=2
 *                                    BENCH_CONNECTIONS=64 BENCH_PROFILE=1 (--cpu-prof on the vigil child)
 *                                    BENCH_NODE_ARGS='--trace-gc' (more node flags, both children)
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon, { type Instance } from 'autocannon';
import { envNumber, median } from './common.ts';

const ROOT = resolve(import.meta.dirname, '..');
const VIGIL_BIN = join(ROOT, 'packages/cli/bin/vigil.mjs');
const BARE_SERVER = join(import.meta.dirname, 'bare-server.ts');
const RESULTS_DIR = join(import.meta.dirname, 'results');

const SECONDS = envNumber('BENCH_SECONDS', 5);
const ROUNDS = Math.round(envNumber('BENCH_ROUNDS', 3));
const WARMUP_SECONDS = envNumber('BENCH_WARMUP_SECONDS', 2);
const CONNECTIONS = Math.round(envNumber('BENCH_CONNECTIONS', 64));
const PROFILE = process.env.BENCH_PROFILE === '1';
/** Extra node flags for both servers, e.g. `--trace-gc` or `--heap-prof`. */
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
const GOALS = { ratio: 0.6, p99Ms: 10 };
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

// ---------------------------------------------------------------------------------------------------
// Child servers

interface Server {
  name: string;
  url: string;
  pid: number;
  exited(): boolean;
  output(): string;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();

/** Spawns `node <args>` and waits for a stdout line matching `ready` (its first group is the URL). */
async function startServer(
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: RegExp,
  timeoutMs = 60_000,
): Promise<Server> {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
  children.add(child);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  void exited.then(() => children.delete(child));
  let output = '';
  child.stderr!.on('data', (d) => {
    output += d;
  });
  const url = await new Promise<string>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`${name} did not start in time:\n${output}`)), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      fail(new Error(`${name} exited (${code ?? signal}) while starting:\n${output}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      output += `${line}\n`;
      const m = ready.exec(line);
      if (m) {
        clearTimeout(timer);
        done(m[1]!);
      }
    });
  });
  child.once('exit', (code, signal) => {
    if (!stopping) console.error(`\n${name} exited unexpectedly (${code ?? signal}):\n${output}`);
  });
  return {
    name,
    url,
    pid: child.pid!,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2 (comm) may hold spaces: count from the closing parenthesis, whose next field is field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

// ---------------------------------------------------------------------------------------------------
// Vigil setup

function hs256(secret: string, claims: Record<string, unknown>): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

interface Target {
  name: 'license' | 'bare';
  server: Server;
  url: string;
  headers: Record<string, string>;
  body: string;
}

async function setUpVigil(server: Server, apiKey: string, secret: string): Promise<Target> {
  const resourceId = 'bench-resource';
  const created = await fetch(`${server.url}/v1/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ resourceId, trackTypes: ['audio', 'hd'] }),
  });
  const createdBody = (await created.json()) as { keys?: { kid: string }[] };
  if (created.status !== 201 || !createdBody.keys?.length) {
    throw new Error(`POST /v1/keys answered ${created.status}: ${JSON.stringify(createdBody)}`);
  }
  const kids = createdBody.keys.map((k) => Buffer.from(k.kid, 'hex').toString('base64url'));
  const now = Math.floor(Date.now() / 1000);
  const token = hs256(secret, {
    sessionId: 'bench-session',
    resourceId,
    ip: '127.0.0.1',
    iat: now,
    exp: now + 24 * 3600,
  });
  return {
    name: 'license',
    server,
    url: `${server.url}/v1/license/clearkey`,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ kids, type: 'temporary' }),
  };
}

/** One license request by hand: 200, every kid answered, a watermark directive. Returns the body. */
async function checkLicense(target: Target): Promise<string> {
  const res = await fetch(target.url, { method: 'POST', headers: target.headers, body: target.body });
  const text = await res.text();
  const kids = (JSON.parse(target.body) as { kids: string[] }).kids;
  let keys: unknown[] | undefined;
  try {
    keys = (JSON.parse(text) as { keys?: unknown[] }).keys;
  } catch {}
  if (res.status !== 200 || keys?.length !== kids.length || !res.headers.get('vigil-watermark')) {
    throw new Error(`license check failed: ${res.status} ${text}`);
  }
  return text;
}

// ---------------------------------------------------------------------------------------------------
// Load

interface Run {
  round: number;
  target: Target['name'];
  seconds: number;
  requests: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  serverCpuSeconds: number;
  /** Server CPU seconds per wall second: 1.0 is one core busy. */
  serverCpuLoad: number;
  reqPerCpuSecond: number;
  /** CPU load of this (autocannon) process, to tell when the load generator is the limit. */
  benchCpuLoad: number;
}

let current: Instance | undefined;
let stopping = false;

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function load(target: Target, seconds: number, round: number): Promise<Run> {
  if (target.server.exited()) throw new Error(`${target.server.name} is not running`);
  const latencies: number[] = [];
  const cpu0 = cpuSeconds(target.server.pid);
  const self0 = process.cpuUsage();
  const instance = autocannon({
    url: target.url,
    method: 'POST',
    headers: target.headers,
    body: target.body,
    connections: CONNECTIONS,
    duration: seconds,
  });
  current = instance;
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const result = await instance;
  current = undefined;
  if (target.server.exited()) throw new Error(`${target.server.name} died during the run`);
  const serverCpu = cpuSeconds(target.server.pid) - cpu0;
  const self = process.cpuUsage(self0);
  if (stopping) throw new Error('interrupted');

  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(
      `${target.name}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts ` +
        `(status codes ${JSON.stringify(result.statusCodeStats)})\n${target.server.output()}`,
    );
  }
  const sorted = Float64Array.from(latencies).sort();
  const wall = result.duration;
  return {
    round,
    target: target.name,
    seconds: wall,
    requests: result.requests.total,
    reqPerSec: result.requests.total / wall,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1] ?? Number.NaN,
    non2xx: result.non2xx,
    serverCpuSeconds: serverCpu,
    serverCpuLoad: serverCpu / wall,
    reqPerCpuSecond: result.requests.total / serverCpu,
    benchCpuLoad: (self.user + self.system) / 1e6 / wall,
  };
}

// ---------------------------------------------------------------------------------------------------
// Report

const COLUMNS: [string, number, (r: Run) => string][] = [
  ['round', 5, (r) => String(r.round)],
  ['target', 7, (r) => r.target],
  ['req/s', 8, (r) => r.reqPerSec.toFixed(0)],
  ['p50 ms', 7, (r) => r.p50Ms.toFixed(2)],
  ['p99 ms', 7, (r) => r.p99Ms.toFixed(2)],
  ['max ms', 7, (r) => r.maxMs.toFixed(1)],
  ['non2xx', 6, (r) => String(r.non2xx)],
  ['srv CPU s', 9, (r) => r.serverCpuSeconds.toFixed(2)],
  ['srv load', 8, (r) => r.serverCpuLoad.toFixed(2)],
  ['req/CPU-s', 9, (r) => r.reqPerCpuSecond.toFixed(0)],
  ['bench load', 10, (r) => r.benchCpuLoad.toFixed(2)],
];

const row = (cells: string[]) => cells.map((c, i) => c.padStart(COLUMNS[i]![1])).join('  ');
const printHeader = () => console.log(row(COLUMNS.map(([h]) => h)));
const printRun = (r: Run) => console.log(row(COLUMNS.map(([, , f]) => f(r))));

function summarize(runs: Run[]) {
  const of = (t: Target['name']) => runs.filter((r) => r.target === t);
  const license = of('license');
  const bare = of('bare');
  const licenseRps = median(license.map((r) => r.reqPerSec));
  const bareRps = median(bare.map((r) => r.reqPerSec));
  const licensePerCpu = median(license.map((r) => r.reqPerCpuSecond));
  const barePerCpu = median(bare.map((r) => r.reqPerCpuSecond));
  const summary = {
    licenseReqPerSec: licenseRps,
    bareReqPerSec: bareRps,
    ratioWall: licenseRps / bareRps,
    licenseReqPerCpuSecond: licensePerCpu,
    bareReqPerCpuSecond: barePerCpu,
    ratioPerCpuSecond: licensePerCpu / barePerCpu,
    licenseP50Ms: median(license.map((r) => r.p50Ms)),
    licenseP99Ms: median(license.map((r) => r.p99Ms)),
    licenseP99WorstMs: Math.max(...license.map((r) => r.p99Ms)),
    bareP99Ms: median(bare.map((r) => r.p99Ms)),
  };
  const verdicts = {
    ratioWall: summary.ratioWall >= GOALS.ratio ? 'PASS' : 'MISS',
    ratioPerCpuSecond: summary.ratioPerCpuSecond >= GOALS.ratio ? 'PASS' : 'MISS',
    licenseP99: summary.licenseP99Ms < GOALS.p99Ms ? 'PASS' : 'MISS',
  };
  return { summary, verdicts };
}

// ---------------------------------------------------------------------------------------------------
// Main

async function stopAll(servers: Server[]): Promise<void> {
  stopping = true;
  current?.stop();
  await Promise.all(servers.map((s) => s.stop()));
}

async function main(): Promise<void> {
  const servers: Server[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-bench-'));
  const onSigint = () => {
    if (stopping) process.exit(130);
    console.error('\ninterrupted: stopping the servers');
    void stopAll(servers).finally(() => {
      rmSync(dataDir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.on('SIGINT', onSigint);
  try {
    const secret = `bench-${randomBytes(16).toString('hex')}`;
    const apiKey = `vk_bench_${randomBytes(16).toString('hex')}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      VIGIL_MASTER_KEY: randomBytes(32).toString('hex'),
      VIGIL_JWT_SECRET: secret,
      VIGIL_API_KEY: apiKey,
      VIGIL_LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
    };
    for (const name of [
      'DATABASE_URL',
      'VIGIL_DATA',
      'VIGIL_TRUSTED_PROXIES',
      'PORT',
      'HOST',
      'NODE_OPTIONS',
    ]) {
      delete env[name];
    }
    const profileDir = join(RESULTS_DIR, 'profiles');
    const nodeArgs = [...NODE_ARGS, ...(PROFILE ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [])];
    if (PROFILE) mkdirSync(profileDir, { recursive: true });

    const vigil = await startServer(
      'vigil serve',
      [...nodeArgs, VIGIL_BIN, 'serve', '--port', '0', '--data', dataDir, '--no-demo'],
      env,
      /Vigil listening on (\S+)/,
    );
    servers.push(vigil);
    const license = await setUpVigil(vigil, apiKey, secret);
    const licenseBody = await checkLicense(license);

    const bareServer = await startServer(
      'bare fastify',
      [...NODE_ARGS, '--import', 'tsx', BARE_SERVER],
      { ...env, BARE_BODY: licenseBody },
      /bare listening on (\S+)/,
    );
    servers.push(bareServer);
    const bare: Target = {
      name: 'bare',
      server: bareServer,
      url: `${bareServer.url}/bare`,
      headers: { 'content-type': 'application/json' },
      body: license.body,
    };

    console.log(
      `license route vs bare Fastify: ${CONNECTIONS} connections, ${ROUNDS} rounds of ${SECONDS}s each ` +
        `(warm-up ${WARMUP_SECONDS}s), ${cpus().length} CPUs, Node ${process.version}, CLK_TCK ${CLK_TCK}`,
    );
    console.log(`vigil pid ${vigil.pid}, bare pid ${bareServer.pid}, response ${licenseBody.length} bytes\n`);

    for (const target of [license, bare]) await load(target, WARMUP_SECONDS, 0);
    const runs: Run[] = [];
    printHeader();
    for (let round = 1; round <= ROUNDS; round++) {
      for (const target of [license, bare]) {
        const run = await load(target, SECONDS, round);
        runs.push(run);
        printRun(run);
        await new Promise((done) => setTimeout(done, 250));
      }
    }

    const { summary, verdicts } = summarize(runs);
    const f0 = (n: number) => n.toFixed(0);
    console.log('\nsummary (medians over rounds)');
    console.log(`  license req/s          ${f0(summary.licenseReqPerSec)}`);
    console.log(`  bare req/s             ${f0(summary.bareReqPerSec)}`);
    console.log(
      `  ratio, wall            ${summary.ratioWall.toFixed(3)}   goal >= ${GOALS.ratio}  ${verdicts.ratioWall}`,
    );
    console.log(
      `  ratio, per CPU-second  ${summary.ratioPerCpuSecond.toFixed(3)}   goal >= ${GOALS.ratio}  ` +
        `${verdicts.ratioPerCpuSecond}   (${f0(summary.licenseReqPerCpuSecond)} vs ${f0(summary.bareReqPerCpuSecond)} req/CPU-s)`,
    );
    console.log(
      `  license p99            ${summary.licenseP99Ms.toFixed(2)} ms   goal < ${GOALS.p99Ms} ms  ` +
        `${verdicts.licenseP99}   (worst run ${summary.licenseP99WorstMs.toFixed(2)} ms, p50 ${summary.licenseP50Ms.toFixed(2)} ms)`,
    );

    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, `license-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    const report = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      config: {
        connections: CONNECTIONS,
        seconds: SECONDS,
        rounds: ROUNDS,
        warmupSeconds: WARMUP_SECONDS,
        clkTck: CLK_TCK,
        kids: (JSON.parse(license.body) as { kids: string[] }).kids.length,
        responseBytes: licenseBody.length,
      },
      goals: GOALS,
      summary,
      verdicts,
      runs,
    };
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`\nresults: ${file}`);
    if (NODE_ARGS.length > 0) {
      // What the flags made the servers print (e.g. --trace-gc lines).
      for (const server of servers) {
        const log = file.replace(/\.json$/, `-${server.name.replace(/\W+/g, '-')}.log`);
        writeFileSync(log, server.output());
        console.log(`${server.name} output: ${log}`);
      }
    }
  } finally {
    await stopAll(servers);
    process.off('SIGINT', onSigint);
    rmSync(dataDir, { recursive: true, force: true });
    if (PROFILE) console.log(`profiles: ${join(RESULTS_DIR, 'profiles')}`);
  }
}

// A last resort should the bench die some other way: no server outlives it.
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

try {
  await main();
} catch (err) {
  console.error(`\nbench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
