import { readFile, stat } from 'node:fs/promises';
import {
  DEFAULT_KEY_PERIOD,
  DEFAULT_SEGMENT_DURATION,
  describeBoxes,
  type KeySource,
  licenseKeyLookup,
  PackagerError,
  type PackageScheme,
  type PackageSummary,
  packageMedia,
  type RenditionCheck,
  readLayout,
  spekeKeySource,
  storeKeyLookup,
  storeKeySource,
  verifyPackage,
} from '@vigil/packager';
import { storeSettingsFromEnv } from '@vigil/server';
import { type Command, need, options, out, positiveNumber, str, withStore } from '../command.ts';
import { UsageError } from '../usage-error.ts';

/** Progress on stderr: a bar redrawn in place on a terminal, a plain line every 5% otherwise. */
function progressPrinter(): { update(phase: string, percent: number): void; end(): void } {
  const tty = process.stderr.isTTY === true;
  let last = -1;
  let lastPhase = '';
  let drawn = false;
  return {
    update(phase, percent) {
      // Nothing before the transcode starts: an input refused while probing is one line, the error.
      if (phase === 'probe') return;
      const whole = Math.floor(percent);
      if (tty) {
        if (whole === last && phase === lastPhase) return;
        const width = 30;
        const filled = Math.round((width * percent) / 100);
        process.stderr.write(
          `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(whole).padStart(3)}% ${phase.padEnd(12)}`,
        );
        drawn = true;
      } else {
        if (last >= 0 && whole - last < 5 && whole !== 100) return;
        process.stderr.write(`packaging: ${whole}% (${phase})\n`);
      }
      last = whole;
      lastPhase = phase;
    },
    end() {
      if (tty && drawn) process.stderr.write('\n');
      drawn = false;
    },
  };
}

function describePackage(summary: PackageSummary, keysFrom: string): string[] {
  const { layout } = summary;
  const videos = layout.tracks.filter((t) => t.kind === 'video');
  const audio = layout.tracks.some((t) => t.kind === 'audio');
  const segments = videos[0]?.periods.reduce((a, p) => a + p.segments.length, 0) ?? 0;
  const lines = [
    `packaged ${layout.resourceId} into ${summary.out}: ${videos.map((v) => `${v.height}p`).join('/')}${audio ? ' + audio' : ''}, ` +
      `${segments} segments of ${layout.segmentDuration} s, ${layout.periods.length} key period${layout.periods.length === 1 ? '' : 's'}, ` +
      `${layout.scheme === 'none' ? 'clear' : layout.scheme} (${(summary.elapsedMs / 1000).toFixed(1)} s)`,
    `  DASH       ${summary.out}/${layout.files.dash}`,
    `  HLS        ${summary.out}/${layout.files.hls}${layout.files.hlsAes128 ? ` (AES-128 TS; fMP4 ${layout.scheme}: ${layout.files.hlsCmaf})` : ''}`,
  ];
  if (summary.keys.length > 0) lines.push(`  keys       ${summary.keys.length} from ${keysFrom}`);
  if (layout.licenseUrl) lines.push(`  license    ${layout.licenseUrl}`);
  return lines;
}

export const packageCommand: Command = {
  options: options(
    [
      'out',
      'resource',
      'scheme',
      'segment-duration',
      'key-period',
      'server',
      'api-key',
      'license-url-base',
      'key-ttl',
      'work-dir',
    ],
    ['hls-aes128', 'allow-no-audio'],
  ),
  async run(values, positionals) {
    if (positionals.length !== 1)
      throw new UsageError('usage: vigil package <input> --out <dir> --resource <id>');
    const input = positionals[0]!;
    const outDir = need(values, 'out');
    const resourceId = need(values, 'resource');
    const rawScheme = str(values, 'scheme') ?? 'cenc';
    const scheme = (rawScheme === 'clear' ? 'none' : rawScheme) as PackageScheme;
    if (!['cenc', 'cbcs', 'none'].includes(scheme))
      throw new UsageError('--scheme must be cenc, cbcs or none');
    const segmentDuration = positiveNumber(values, 'segment-duration', DEFAULT_SEGMENT_DURATION, false);
    const keyPeriod = positiveNumber(values, 'key-period', DEFAULT_KEY_PERIOD, true);
    const keyTtl =
      str(values, 'key-ttl') === undefined ? undefined : positiveNumber(values, 'key-ttl', 0, true);
    const server = str(values, 'server');
    const apiKey = str(values, 'api-key') ?? process.env.VIGIL_API_KEY;
    if (server && !apiKey) throw new UsageError('--server needs --api-key (an admin API key of the tenant)');

    const controller = new AbortController();
    const onSignal = () => controller.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const bar = progressPrinter();
    const run = (keys: KeySource | undefined) =>
      packageMedia(
        {
          input,
          out: outDir,
          resourceId,
          scheme,
          segmentDuration,
          keyPeriod,
          hlsAes128: values['hls-aes128'] === true,
          allowNoAudio: values['allow-no-audio'] === true,
          ...(keys ? { keys } : {}),
          licenseUrlBase: str(values, 'license-url-base') ?? server ?? 'http://127.0.0.1:8080',
          ...(str(values, 'work-dir') ? { workDir: str(values, 'work-dir')! } : {}),
        },
        { signal: controller.signal, onProgress: (p) => bar.update(p.phase, p.percent) },
      );
    try {
      let summary: PackageSummary;
      let keysFrom: string;
      if (scheme === 'none') {
        summary = await run(undefined);
        keysFrom = '';
      } else if (server) {
        const source = spekeKeySource({
          server,
          apiKey: apiKey!,
          ...(keyTtl ? { ttlSeconds: keyTtl } : {}),
        });
        summary = await run(source);
        keysFrom = source.description;
      } else {
        const settings = storeSettingsFromEnv(str(values, 'data'));
        keysFrom = settings.databaseUrl ? 'the PostgreSQL store' : `the local store in ${settings.dataDir}`;
        // The store is opened only to write the keys, after the input has been checked and transcoded.
        const description = keysFrom;
        summary = await run({
          description,
          createKeys: (resource, specs, keyScheme) =>
            withStore(values, (store, tenantId) =>
              storeKeySource({
                store,
                tenantId,
                description,
                ...(keyTtl ? { ttlSeconds: keyTtl } : {}),
              }).createKeys(resource, specs, keyScheme),
            ),
        });
      }
      bar.end();
      for (const line of describePackage(summary, keysFrom)) out(line);
    } catch (err) {
      bar.end();
      if (err instanceof PackagerError && err.code === 'bad_option') throw new UsageError(err.message);
      throw err;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};

export const inspectCommand: Command = {
  options: options(['server', 'token']),
  async run(values, positionals) {
    if (positionals.length !== 1) throw new UsageError('usage: vigil inspect <file> | <package dir>');
    const target = positionals[0]!;
    const info = await stat(target).catch(() => undefined);
    if (!info) throw new Error(`not found: ${target}`);
    if (!info.isDirectory()) {
      const data = await readFile(target);
      const firstType = data.length >= 8 ? data.toString('latin1', 4, 8) : '';
      if (!/^[\x20-\x7e]{4}$/.test(firstType)) throw new Error(`${target} is not an MP4 (ISO BMFF) file`);
      let text: string;
      try {
        text = describeBoxes(data);
      } catch (err) {
        throw new Error(`${target} is not an MP4 (ISO BMFF) file: ${(err as Error).message}`);
      }
      process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
      return;
    }
    const layout = await readLayout(target);
    const server = str(values, 'server');
    const token = str(values, 'token');
    if (server && !token) throw new UsageError('--server needs --token (a viewer token for the resource)');
    const report = (c: RenditionCheck) =>
      out(
        `${c.ok ? 'OK  ' : 'FAIL'}  ${c.id.padEnd(22)} ${c.segments} segments, ${c.periods} key period${c.periods === 1 ? '' : 's'}${c.error ? `: ${c.error}` : ''}`,
      );
    const check = async (lookup: Parameters<typeof verifyPackage>[1]) =>
      verifyPackage(target, lookup, { onRendition: report });
    const n = layout.periods.length;
    out(
      `${layout.resourceId}: ${layout.scheme === 'none' ? 'clear' : layout.scheme}, ${n} key period${n === 1 ? '' : 's'}`,
    );
    const { checks } =
      server && token
        ? await check(licenseKeyLookup(server, token))
        : await withStore(values, (store, tenantId) =>
            check(storeKeyLookup(store, tenantId, layout.resourceId)),
          );
    const failed = checks.filter((c) => !c.ok).length;
    if (failed > 0) throw new Error(`${failed} of ${checks.length} renditions failed the check`);
  },
};
