/** `vigil detect <file | URL>`: which session a recording or a restream was captured from. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { accessSummary, type DetectMode, detect, storeContext } from '@vigil/detector';
import { type Command, common, out, positiveNumber, str, withStore } from '../command.ts';
import { UsageError } from '../usage-error.ts';

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
  },
  async run(values, positionals) {
    const input = oneInput(
      positionals,
      'usage: vigil detect <file | URL> [--json] [--mode auto|color|text] [--evidence <dir>] [--max-seconds <s>]',
    );
    const mode = parseMode(values);
    const maxSeconds = positiveNumber(values, 'max-seconds', 180, false);
    const evidenceDir = resolve(str(values, 'evidence') ?? mkdtempSync(join(tmpdir(), 'vigil-evidence-')));
    await withStore(values, async (store, tenantId) => {
      const ctx = await storeContext(store, tenantId, { evidenceDir, maxSeconds });
      const result = await detect(input, mode, ctx);
      const body = result.found
        ? { ...result, access: await accessSummary(store, tenantId, result.sessionId) }
        : result;
      if (values.json) {
        out(JSON.stringify(body));
        return;
      }
      if (!result.found) {
        out(`not found: ${result.reason}`);
        return;
      }
      const access = 'access' in body ? body.access : undefined;
      out(`found session ${result.sessionId} (tenant ${result.tenant}, ${result.mode} mode)`);
      out(
        `  confidence ${result.confidence}, false-match probability ${result.falseMatchProbability ?? 'n/a'}, ` +
          `after ${result.footageSeconds} s of footage`,
      );
      if (access) {
        out(
          `  seen ${access.firstSeenIso ?? '?'} .. ${access.lastSeenIso ?? '?'} playing ${access.resources.join(', ') || '?'}`,
        );
        out(`  IPs: ${access.ips.join(', ') || '-'}`);
        out(`  user agents: ${access.userAgents.join(' | ') || '-'}`);
      }
      for (const e of result.evidence) out(`  evidence at ${e.t} s: ${e.file}`);
    });
  },
};
