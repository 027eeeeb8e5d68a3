import { join } from 'node:path';
import { channelFolder, channelKeyOwner, foreignContent, ResourceContentError } from './ownership.ts';
import { CHANNEL_ID, LiveSettingsError, parseLiveSettings } from './settings.ts';

/** The store calls defining a channel needs (VigilStore has them). */
export interface ChannelWriter {
  listLiveChannels(tenantId: string): Promise<{ id: string; resourceId: string }[]>;
  listContentKeys(
    tenantId: string,
    resourceId: string,
  ): Promise<{ owner: string | null; expiresAt: number }[]>;
  putLiveChannel(input: {
    tenantId: string;
    id: string;
    resourceId: string;
    settings: Record<string, unknown>;
    desired: 'running' | 'stopped';
  }): Promise<void>;
}

export interface ChannelDefinition {
  /** Defaults to the channel id. Viewer tokens name it as their `resourceId`. */
  resourceId?: string;
  /** Settings as JSON (see LiveSettings); checked, stored with defaults filled in. */
  settings?: Record<string, unknown>;
  desired: 'running' | 'stopped';
  /**
   * The origin folder (`<originRoot>/<tenant>/<resource>/`) to check for content the channel did not make.
   * The instance running the channel checks again when it starts it.
   */
  originRoot?: string | undefined;
}

/**
 * Creates or replaces a channel, after checking its id, resource id and settings (LiveSettingsError on
 * anything wrong) and that its resource holds nothing the channel did not make — files in its origin
 * folder, content keys of others — unless its settings say `takeover` (ResourceContentError). The
 * instance running live channels picks the change up from the store.
 */
export async function defineChannel(
  store: ChannelWriter,
  tenantId: string,
  id: string,
  def: ChannelDefinition,
): Promise<{ resourceId: string; settings: Record<string, unknown> }> {
  if (!CHANNEL_ID.test(id))
    throw new LiveSettingsError('the channel id must be 1-64 letters, digits, ".", "_" or "-"');
  const resourceId = def.resourceId ?? id;
  if (!CHANNEL_ID.test(resourceId))
    throw new LiveSettingsError('the resource id must be 1-64 letters, digits, ".", "_" or "-"');
  const parsed = parseLiveSettings(def.settings ?? {});
  const settings = parsed as unknown as Record<string, unknown>;
  // Channels publish into their resource's folder: two channels of one resource would overwrite each other.
  const other = (await store.listLiveChannels(tenantId)).find(
    (c) => c.resourceId === resourceId && c.id !== id,
  );
  if (other) throw new LiveSettingsError(`resource "${resourceId}" is already live channel "${other.id}"'s`);
  await checkResourceContent(store, tenantId, id, resourceId, parsed.takeover, def.originRoot);
  await store.putLiveChannel({ tenantId, id, resourceId, settings, desired: def.desired });
  return { resourceId, settings };
}

/**
 * Refuses (ResourceContentError) a channel whose resource holds what it did not make: content keys of
 * others (unless `takeover`), files in the folder it would publish in (when `originRoot` is known).
 */
export async function checkResourceContent(
  store: Pick<ChannelWriter, 'listContentKeys'>,
  tenantId: string,
  id: string,
  resourceId: string,
  takeover: boolean,
  originRoot: string | undefined,
): Promise<void> {
  const refuse = (why: string, hint: boolean) =>
    new ResourceContentError(
      `resource "${resourceId}"${why}${hint ? '; set takeover (--takeover) to run the channel beside it, in its own live/ subfolder' : ''}`,
    );
  if (!takeover) {
    const now = Date.now();
    const owner = channelKeyOwner(id);
    const foreign = (await store.listContentKeys(tenantId, resourceId)).filter(
      (k) => k.owner !== owner && k.expiresAt > now,
    );
    if (foreign.length > 0)
      throw refuse(` has ${foreign.length} content key(s) the channel did not make (a package's?)`, true);
  }
  if (originRoot === undefined) return;
  const dir = join(originRoot, tenantId, channelFolder(resourceId, takeover));
  const why = await foreignContent(dir, tenantId, id);
  if (why) {
    const rel = channelFolder(resourceId, takeover);
    throw refuse(`: its origin folder ${rel}/ ${why.replace(/^it /, '')}`, !takeover);
  }
}
