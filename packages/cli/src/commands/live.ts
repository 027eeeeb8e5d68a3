import { join } from 'node:path';
import * as control from '@vigil/control';
import { channelFolder, inputFromText } from '@vigil/live';
import { storeSettingsFromEnv } from '@vigil/server';
import { allPages } from '@vigil/store';
import { type Command, options, out, positiveNumber, str, withControl } from '../command.ts';
import { asUsage, UsageError } from '../usage-error.ts';

/** `360:800k,180:250k` → ladder rungs. */
function parseLadder(text: string): { height: number; bitrate: number }[] {
  return text.split(',').map((part) => {
    const m = /^(\d+)p?:(\d+(?:\.\d+)?)([km]?)$/i.exec(part.trim());
    if (!m) throw new UsageError('--ladder takes <height>:<bitrate>[k|m],... e.g. 360:800k,180:250k');
    const unit = m[3]?.toLowerCase() === 'm' ? 1e6 : m[3]?.toLowerCase() === 'k' ? 1e3 : 1;
    return { height: Number(m[1]), bitrate: Math.round(Number(m[2]) * unit) };
  });
}

function liveStatusLines(c: {
  id: string;
  resourceId: string;
  tenantId: string;
  desired: string;
  status: Record<string, unknown> | null;
}): string[] {
  const st = (c.status ?? {}) as Record<string, unknown>;
  const enc = (st.encoder ?? {}) as Record<string, unknown>;
  const at = typeof st.at === 'number' ? `${Math.round((Date.now() - st.at) / 1000)} s ago` : 'never';
  const lines = [
    `${c.id}  resource ${c.resourceId}  desired ${c.desired}  state ${String(st.state ?? 'unknown')} (reported ${at})`,
  ];
  if (st.state && st.state !== 'stopped') {
    lines.push(
      `  encoder ${String(enc.state ?? '?')} pid ${String(enc.pid ?? '-')} run ${String(enc.run ?? '-')} restarts ${String(enc.restarts ?? 0)}`,
      `  segments ${String(st.segmentsPublished ?? 0)}  last #${String(st.lastSequence ?? '-')}  edge lag ${st.edgeLagMs === undefined ? '-' : `${st.edgeLagMs} ms`}  key period ${String(st.keyPeriod ?? '-')}  ${st.processingMsAvg === undefined ? '' : `${st.processingMsAvg} ms/segment`}`,
    );
  }
  if (st.lastError) lines.push(`  last error: ${String(st.lastError)}`);
  lines.push(
    `  manifests /origin/${c.tenantId}/${c.resourceId}/manifest.mpd  /origin/${c.tenantId}/${c.resourceId}/master.m3u8`,
  );
  return lines;
}

export const liveCommand: Command = {
  options: options(
    ['input', 'resource', 'key-period', 'segment-duration', 'window', 'ladder', 'preset'],
    ['no-loop', 'takeover'],
  ),
  async run(values, [action, id]) {
    const usage = 'usage: vigil live start|stop|status|delete [<channel id>] (see vigil --help)';
    if (!action || !['start', 'stop', 'status', 'delete'].includes(action)) throw new UsageError(usage);
    if (action !== 'status' && !id) throw new UsageError(usage);
    await withControl(values, async ({ store }, actor) => {
      const deps: control.LiveDeps = {
        store,
        originRoot: join(storeSettingsFromEnv(str(values, 'data')).dataDir, 'origin'),
      };
      if (action === 'status') {
        const channels = id
          ? [await control.getChannel(deps, actor, id)]
          : allPages((page) => control.listChannels(deps, actor, page));
        let shown = 0;
        for await (const c of channels) {
          shown++;
          for (const line of liveStatusLines(c)) out(line);
        }
        if (shown === 0) out('no live channels');
        return;
      }
      if (action === 'stop' || action === 'delete') {
        if (action === 'stop') await control.setChannelRunning(deps, actor, { id: id!, running: false });
        else await control.deleteChannel(deps, actor, id!);
        out(
          `${action === 'stop' ? 'stopping' : 'deleting'} live channel ${id}: its keys are withdrawn and its files removed by the running server`,
        );
        return;
      }
      const overrides: Record<string, unknown> = {};
      const input = str(values, 'input');
      if (input !== undefined) overrides.input = inputFromText(input, !values['no-loop']);
      const numeric: [string, string][] = [
        ['key-period', 'keyPeriodSeconds'],
        ['segment-duration', 'segmentDuration'],
        ['window', 'windowSeconds'],
      ];
      for (const [flag, field] of numeric) {
        if (str(values, flag) !== undefined) overrides[field] = positiveNumber(values, flag, 0, true);
      }
      const preset = str(values, 'preset');
      if (preset !== undefined) overrides.preset = preset;
      const ladder = str(values, 'ladder');
      if (ladder !== undefined) overrides.ladder = parseLadder(ladder);
      if (values.takeover) overrides.takeover = true;
      // Settings the channel has keep their values; a bad setting is a mistake in the command (exit 2).
      const { record } = await control
        .putChannel(deps, actor, {
          id: id!,
          resourceId: str(values, 'resource'),
          settings: overrides,
          merge: true,
        })
        .catch((err: unknown) => {
          throw (err as { status?: number }).status === 400 ? asUsage(err) : err;
        });
      const base = `/origin/${record.tenantId}/${channelFolder(record.resourceId, record.settings.takeover === true)}`;
      out(
        `live channel ${id} (resource ${record.resourceId}) set to run; a running \`vigil serve\` on this store starts it`,
      );
      out(`  manifests: ${base}/manifest.mpd and ${base}/master.m3u8`);
      out(`  status:    vigil live status ${id}`);
    });
  },
};
