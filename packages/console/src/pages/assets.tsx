/**
 * Assets (the media pipeline): upload a video (tus, with progress, pause and resume), the tenant's assets
 * with their processing status and progress (refreshed every few seconds), one asset's metadata and
 * variants, and a preview that plays a ready asset with the Vigil plugin.
 */

import type { AssetSummary } from '@vigil/control';
import { useState } from 'react';
import { readAll } from '../api.ts';
import { canWrite, ErrorNote, LoadState, Section, useAction, useApp, useLoad, when } from '../ui.tsx';
import { AssetPreview } from './asset-preview.tsx';
import { megabytes, UploadForm } from './asset-upload.tsx';

export type { AssetSummary } from '@vigil/control';

type MediaStatus = AssetSummary['status'];

interface Variant {
  id: string;
  quality: string;
  width: number;
  height: number;
  bitrate: number;
  codec: string;
  format: string;
  encryptionKeyId?: string;
  sizeBytes?: number;
}

interface Metadata {
  duration?: number;
  width?: number;
  height?: number;
  bitrate?: number;
  codec?: string;
  format?: string;
  frameRate?: number;
  audio?: { codec?: string; channels?: number; sampleRate?: number } | null;
  fingerprint?: string;
}

interface ProcessStatus {
  status: MediaStatus;
  progress: number;
  error?: { code: string; message: string };
  job?: { status: string; attempts: number; maxAttempts: number; lastError?: string };
}

/** How often the list (and an open asset still processing) is read again. */
export const ASSETS_POLL_MS = 3000;

const WORKING: MediaStatus[] = ['uploading', 'processing', 'transcoding', 'protecting'];
const STATUS_WORDS: Record<MediaStatus, string> = {
  uploading: 'Uploading',
  processing: 'Queued for processing',
  transcoding: 'Transcoding',
  protecting: 'Encrypting and packaging',
  ready: 'Ready',
  failed: 'Failed',
  expired: 'Expired',
};

const seconds = (s: number | undefined) => (s === undefined ? '—' : `${s.toFixed(1)} s`);
const kbps = (b: number | undefined) => (b === undefined ? '—' : `${Math.round(b / 1000)} kb/s`);

/** A table's column headings. */
function Head({ columns }: { columns: string[] }) {
  return (
    <thead>
      <tr>
        {columns.map((c) => (
          <th key={c} scope="col">
            {c}
          </th>
        ))}
      </tr>
    </thead>
  );
}

/** An asset's status in words, with its progress bar while it is processed. */
function AssetStatus({ a }: { a: Pick<AssetSummary, 'status' | 'progress' | 'error'> & { title: string } }) {
  const working = WORKING.includes(a.status);
  const tone = a.status === 'ready' ? 'ok' : a.status === 'failed' ? 'warn' : 'off';
  return (
    <>
      <span className={`pill ${tone}`}>{STATUS_WORDS[a.status] ?? a.status}</span>
      {working && (
        <>
          {' '}
          {a.progress}%
          <progress
            max={100}
            value={a.progress}
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={a.progress}
            aria-label={`Processing of ${a.title}`}
          >
            {a.progress}%
          </progress>
        </>
      )}
      {a.error && (
        <div className="muted">
          {a.error.message} ({a.error.code})
        </div>
      )}
    </>
  );
}

/** The renditions of one asset. */
function VariantsTable({ title, variants }: { title: string; variants: Variant[] }) {
  return (
    <div className="table-wrap">
      <table className="stack" aria-label={`Variants of ${title}`}>
        <Head columns={['Quality', 'Size', 'Bitrate', 'Codec', 'Format', 'Key id']} />
        <tbody>
          {variants.map((v) => (
            <tr key={v.id}>
              <th scope="row">{v.quality}</th>
              <td data-label="Size">
                {v.width}×{v.height}
              </td>
              <td data-label="Bitrate">{kbps(v.bitrate)}</td>
              <td data-label="Codec">{v.codec}</td>
              <td data-label="Format">{v.format}</td>
              <td data-label="Key id">
                <code className="wrap">{v.encryptionKeyId ?? '—'}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** One asset: its processing job, its VideoMetadata and its variants. */
function AssetDetails({ asset }: { asset: AssetSummary }) {
  const { client } = useApp();
  const path = `/v1/media/${encodeURIComponent(asset.assetId)}`;
  const working = WORKING.includes(asset.status);
  const details = useLoad(
    async () => {
      const [status, variants, metadata] = await Promise.all([
        client.get<ProcessStatus>(
          `/v1/media/process/${encodeURIComponent(asset.assetId)}/status`,
          'Loading the asset',
        ),
        client.get<{ variants: Variant[] }>(`${path}/variants`, 'Loading the variants'),
        // 409 asset_not_ready until the source was probed.
        client
          .get<Metadata>(`${path}/metadata`, 'Loading the metadata')
          .catch((err) => (err?.code === 'asset_not_ready' ? undefined : Promise.reject(err))),
      ]);
      return { status, variants: variants.variants, metadata };
    },
    [asset.assetId, asset.status],
    working ? ASSETS_POLL_MS : undefined,
  );
  return (
    <Section title={`Asset ${asset.title}`} id="asset-details">
      <p className="muted">
        <code>{asset.assetId}</code> · {asset.mimeType} · {megabytes(asset.size)} · uploaded{' '}
        {when(asset.createdAt)}
      </p>
      <LoadState state={details} what="the asset">
        {({ status, variants, metadata }) => (
          <>
            <p>
              <AssetStatus a={{ ...status, title: asset.title }} />
              {status.job && (
                <span className="muted">
                  {' '}
                  · job {status.job.status}, attempt {status.job.attempts} of {status.job.maxAttempts}
                  {status.job.lastError ? ` (last error: ${status.job.lastError})` : ''}
                </span>
              )}
            </p>
            <h3>Metadata</h3>
            {metadata ? (
              <dl className="facts">
                <dt>Duration</dt>
                <dd>{seconds(metadata.duration)}</dd>
                <dt>Picture</dt>
                <dd>
                  {metadata.width}×{metadata.height}
                  {metadata.frameRate ? ` at ${metadata.frameRate.toFixed(2)} fps` : ''}
                </dd>
                <dt>Video</dt>
                <dd>
                  {metadata.codec ?? '—'} in {metadata.format ?? '—'}, {kbps(metadata.bitrate)}
                </dd>
                <dt>Audio</dt>
                <dd>
                  {metadata.audio
                    ? `${metadata.audio.codec ?? '?'}, ${metadata.audio.channels ?? '?'} ch, ${metadata.audio.sampleRate ?? '?'} Hz`
                    : 'none'}
                </dd>
                <dt>Fingerprint</dt>
                <dd>
                  <code className="wrap">{metadata.fingerprint ?? '—'}</code>
                </dd>
              </dl>
            ) : (
              <p className="empty">Not known yet: the source has not been probed.</p>
            )}
            <h3>Variants</h3>
            {variants.length === 0 ? (
              <p className="empty">
                {asset.status === 'failed'
                  ? 'None: processing failed.'
                  : 'None yet: they appear once packaged.'}
              </p>
            ) : (
              <VariantsTable title={asset.title} variants={variants} />
            )}
          </>
        )}
      </LoadState>
    </Section>
  );
}

export function AssetsPage() {
  const { client, operator, notify } = useApp();
  const [open, setOpen] = useState<string | undefined>(undefined);
  const [preview, setPreview] = useState<string | undefined>(undefined);
  const assets = useLoad(
    async () => (await readAll<AssetSummary>(client, '/v1/media', 'assets', 'Loading the assets', 200)).items,
    [],
    ASSETS_POLL_MS,
  );
  const act = useAction();
  const writer = canWrite(operator.role, 'operator');
  const find = (id: string | undefined) => assets.data?.find((a) => a.assetId === id);
  const opened = find(open);
  const previewed = find(preview);

  const processing = (a: AssetSummary, what: 'process' | 'cancel') =>
    act.run(async () => {
      const id = encodeURIComponent(a.assetId);
      await client.post(
        what === 'process' ? `/v1/media/process/${id}` : `/v1/media/process/${id}/cancel`,
        {},
        `${what === 'process' ? 'Processing' : 'Cancelling the processing of'} ${a.title}`,
      );
      notify(what === 'process' ? `${a.title}: queued for processing.` : `${a.title}: processing cancelled.`);
      assets.reload();
    });

  return (
    <>
      <Section title="Upload a video">
        {!writer && <p className="muted">Your role ({operator.role}) can look but not upload.</p>}
        <UploadForm
          disabled={!writer}
          onUploaded={(assetId) => {
            if (assetId) setOpen(assetId);
            assets.reload();
          }}
        />
      </Section>
      <Section title="Assets">
        <ErrorNote error={act.error} />
        <LoadState
          state={assets}
          what="assets"
          isEmpty={(l) => l.length === 0}
          empty="No assets yet. Upload a video above."
        >
          {(list) => (
            <div className="table-wrap">
              <table className="stack">
                <Head columns={['Asset', 'Status', 'Duration', 'Uploaded', 'Actions']} />
                <tbody>
                  {list.map((a) => (
                    <tr key={a.assetId}>
                      <th scope="row">
                        {a.title}
                        <br />
                        <small className="muted">
                          {a.assetId} · {megabytes(a.size)}
                          {a.variantCount ? ` · ${a.variantCount} variants` : ''}
                        </small>
                      </th>
                      <td data-label="Status">
                        <AssetStatus a={a} />
                      </td>
                      <td data-label="Duration">{seconds(a.duration)}</td>
                      <td data-label="Uploaded">{when(a.createdAt)}</td>
                      <td className="actions">
                        <button
                          type="button"
                          className="secondary"
                          aria-expanded={open === a.assetId}
                          aria-label={`Details of ${a.title}`}
                          onClick={() => setOpen(open === a.assetId ? undefined : a.assetId)}
                        >
                          Details
                        </button>
                        {a.status === 'ready' && (
                          <button
                            type="button"
                            disabled={!writer}
                            aria-label={`Preview ${a.title}`}
                            onClick={() => setPreview(a.assetId)}
                          >
                            Preview
                          </button>
                        )}
                        {WORKING.includes(a.status) && a.status !== 'uploading' && (
                          <button
                            type="button"
                            className="danger"
                            disabled={!writer || act.busy}
                            aria-label={`Cancel the processing of ${a.title}`}
                            onClick={() => processing(a, 'cancel')}
                          >
                            Cancel
                          </button>
                        )}
                        {a.status === 'failed' && (
                          <button
                            type="button"
                            disabled={!writer || act.busy}
                            aria-label={`Process ${a.title} again`}
                            onClick={() => processing(a, 'process')}
                          >
                            Process again
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <p className="muted">Refreshes every {ASSETS_POLL_MS / 1000} s.</p>
            </div>
          )}
        </LoadState>
      </Section>
      {previewed && (
        <AssetPreview
          key={previewed.assetId}
          assetId={previewed.assetId}
          title={previewed.title}
          onClose={() => setPreview(undefined)}
        />
      )}
      {opened && <AssetDetails asset={opened} />}
    </>
  );
}
