/** `vigil detect <file | URL>`: which session a recording or a restream was captured from. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type SessionAccess, sessionAccess } from '@vigil/control';
import { type DetectMode, detect, storeContext } from '@vigil/detector';
import { DetectionStore } from '@vigil/store';
import { type Command, common, out, positiveNumber, str, withStore } from '../command.ts';
import { UsageError } from '../usage-error.ts';
import { detectRemote } from './detect-remote.ts';

export function parseMode(values: Record<string, unknown>): DetectMode {
  const mode = (values.mode as string | undefined) ?? 'auto';
  if (mode !== 'auto' && mode !== 'color' && mode !== 'text') {
    throw new UsageError('--mode must be auto, color or text');
  }
  return mode;
}

export function oneInput(positionals: string[], usage: string): string {
  if (positionals.length !== 1 || !positionals[0]) throw new UsageError(usage);
  return positionals[0];
}

export const detectCommand: Command = {
  options: {
    ...common,
    json: { type: 'boolean' },
    mode: { type: 'string' },
    evidence: { type: 'string' },
    'max-seconds': { type: 'string' },
    server: { type: 'string' },
    'api-key': { type: 'string' },
  },
  async run(values, positionals) {
    const input = oneInput(
      positionals,
      'usage: vigil detect <file | URL> [--json] [--mode auto|color|text] [--evidence <dir>] [--max-seconds <s>] [--server <url> --api-key <key>]',
    );
    const mode = parseMode(values);
    const maxSeconds = positiveNumber(values, 'max-seconds', 180, false);
    const evidenceDir = resolve(str(values, 'evidence') ?? mkdtempSync(join(tmpdir(), 'vigil-evidence-')));
    const server = str(values, 'server');
    if (server !== undefined) {
      // The server runs it: the API key names the tenant, the server's store is the one read.
      const apiKey = str(values, 'api-key') ?? process.env.VIGIL_API_KEY;
      if (!apiKey) throw new UsageError('--server needs --api-key (or VIGIL_API_KEY)');
      if (str(values, 'data') || str(values, 'tenant'))
        throw new UsageError('--server runs on the server: --data and --tenant do not apply');
      const body = await detectRemote({ server, apiKey, input, mode, evidenceDir });
      print(values.json === true, body as Printed);
      return;
    }
    await withStore(values, async (store, tenantId) => {
      const ctx = await storeContext(store, tenantId, { evidenceDir, maxSeconds });
      const result = await detect(input, mode, ctx);
      const body = result.found
        ? {
            ...result,
            access: await sessionAccess(
              { detections: new DetectionStore(store) },
              tenantId,
              result.sessionId,
            ),
          }
        : result;
      print(values.json === true, body);
    });
  },
};

type Printed =
  | (Extract<Awaited<ReturnType<typeof detect>>, { found: true }> & { access?: SessionAccess })
  | Extract<Awaited<ReturnType<typeof detect>>, { found: false }>;

/** One JSON object with --json, else a few lines for a person. */
function print(json: boolean, result: Printed): void {
  if (json) {
    out(JSON.stringify(result));
    return;
  }
  if (!result.found) {
    out(`not found: ${result.reason}`);
    return;
  }
  out(`found session ${result.sessionId} (tenant ${result.tenant}, ${result.mode} mode)`);
  out(
    `  confidence ${result.confidence}, false-match probability ${result.falseMatchProbability ?? 'n/a'}, ` +
      `after ${result.footageSeconds} s of footage`,
  );
  const access = result.access;
  if (access) {
    out(
      `  seen ${access.firstSeen ?? '?'} .. ${access.lastSeen ?? '?'} playing ${access.resources.join(', ') || '?'}`,
    );
    out(`  IPs: ${access.addresses.map((i) => `${i.ip} (${i.hits}, last ${i.lastSeen})`).join(', ') || '-'}`);
    out(`  user agents: ${access.userAgents.join(' | ') || '-'}`);
  }
  for (const e of result.evidence) out(`  evidence at ${e.t} s: ${e.file}`);
}
