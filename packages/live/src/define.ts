import { CHANNEL_ID, LiveSettingsError, parseLiveSettings } from './settings.ts';

/** The store calls defining a channel needs (VigilStore has them). */
export interface ChannelWriter {
  listLiveChannels(tenantId: string): Promise<{ id: string; resourceId: string }[]>;
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
}

/**
 * Creates or replaces a channel, after checking its id, resource id and settings (LiveSettingsError on
 * anything wrong). The instance running live channels picks the change up from the store.
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
  const settings = parseLiveSettings(def.settings ?? {}) as unknown as Record<string, unknown>;
  // Channels publish into their resource's folder: two channels of one resource would overwrite each other.
  const other = (await store.listLiveChannels(tenantId)).find(
    (c) => c.resourceId === resourceId && c.id !== id,
  );
  if (other) throw new LiveSettingsError(`resource "${resourceId}" is already live channel "${other.id}"'s`);
  await store.putLiveChannel({ tenantId, id, resourceId, settings, desired: def.desired });
  return { resourceId, settings };
}
