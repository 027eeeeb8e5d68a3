/**
 * The Assets page's upload: a video file sent with tus (tus-js-client, 5 MiB PATCHes, retried on a lost
 * connection) to `/v1/media/tus/` with the session cookie and the CSRF token; a progress bar, pause and
 * resume, and a file chosen again (even after a reload) resumes where the server has it. When it ends, the
 * upload's status names the asset it became.
 */
import { useEffect, useRef, useState } from 'react';
import * as tus from 'tus-js-client';
import { type ApiClient, ApiError } from '../api.ts';
import { ErrorNote, useApp } from '../ui.tsx';

const CHUNK_BYTES = 5 * 1024 * 1024;

type Phase = 'idle' | 'uploading' | 'paused' | 'finishing' | 'done';

/** A tus client error as the console's ApiError (the server's `{code, message}` when it answered). */
function asApiError(err: unknown, action: string): ApiError {
  const res = err instanceof tus.DetailedError ? err.originalResponse : null;
  if (!res) return new ApiError({ status: 0, code: 'unreachable', message: String(err), action });
  let body: { code?: string; message?: string } = {};
  try {
    body = JSON.parse(res.getBody() || '{}');
  } catch {
    body = { message: res.getBody().slice(0, 200) };
  }
  return new ApiError({
    status: res.getStatus(),
    code: body.code ?? '',
    message: body.message ?? `HTTP ${res.getStatus()}`,
    action,
  });
}

export const megabytes = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

/** Asks the upload's status for the asset it became (the tus id is a Vigil upload id). */
async function assetOf(client: ApiClient, uploadUrl: string, name: string): Promise<string> {
  const id = uploadUrl.split('?')[0]!.split('/').pop()!;
  const s = await client.get<{ assetId?: string; status: string }>(
    `/v1/media/upload/status/${encodeURIComponent(id)}`,
    `Checking the upload of ${name}`,
  );
  return s.assetId ?? '';
}

export function UploadForm({
  disabled,
  onUploaded,
}: {
  disabled: boolean;
  onUploaded(assetId: string): void;
}) {
  const { client, notify } = useApp();
  const [file, setFile] = useState<File | undefined>(undefined);
  const [phase, setPhase] = useState<Phase>('idle');
  const [sent, setSent] = useState({ bytes: 0, total: 0 });
  const [resumedFrom, setResumedFrom] = useState<number | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const upload = useRef<tus.Upload | undefined>(undefined);

  // Leaving the page pauses the upload; choosing the file again resumes it.
  useEffect(() => () => void upload.current?.abort(), []);

  const start = async () => {
    if (!file) return;
    setError(undefined);
    setResumedFrom(undefined);
    setSent({ bytes: 0, total: file.size });
    const action = `Uploading ${file.name}`;
    const u = new tus.Upload(file, {
      endpoint: `${client.base || location.origin}/v1/media/tus/`,
      chunkSize: CHUNK_BYTES,
      retryDelays: [0, 1000, 3000, 5000, 10000],
      metadata: { filename: file.name, filetype: file.type || 'video/mp4' },
      headers: client.headers,
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onBeforeRequest(req) {
        if (client.csrfToken) req.setHeader('X-CSRF-Token', client.csrfToken);
      },
      onProgress: (bytes, total) => setSent({ bytes, total }),
      onError(err) {
        setPhase('paused');
        const e = asApiError(err, action);
        if (e.kind === 'signed-out') client.events.onSignedOut?.(e);
        setError(e);
      },
      onSuccess() {
        setPhase('finishing');
        setSent({ bytes: file.size, total: file.size });
        assetOf(client, u.url ?? '', file.name)
          .then((assetId) => {
            setPhase('done');
            notify(`Uploaded ${file.name}${assetId ? `: asset ${assetId} is processing` : ''}.`);
            onUploaded(assetId);
          })
          .catch((err) => {
            setPhase('done');
            setError(err);
            onUploaded('');
          });
      },
    });
    upload.current = u;
    const previous = await u.findPreviousUploads().catch(() => []);
    const last = previous[0];
    if (last) {
      u.resumeFromPreviousUpload(last);
      setResumedFrom(Date.parse(last.creationTime));
    }
    setPhase('uploading');
    u.start();
  };

  const pause = () => {
    void upload.current?.abort();
    setPhase('paused');
  };
  const resume = () => {
    setError(undefined);
    setPhase('uploading');
    upload.current?.start();
  };
  const cancel = () => {
    const u = upload.current;
    upload.current = undefined;
    setPhase('idle');
    setSent({ bytes: 0, total: 0 });
    void u?.abort(true).catch(() => {});
  };

  const pct = sent.total > 0 ? Math.floor((sent.bytes / sent.total) * 100) : 0;
  const active = phase === 'uploading' || phase === 'paused' || phase === 'finishing';
  return (
    <>
      <div className="form-row">
        <div className="field">
          <label htmlFor="asset-file">Video file</label>
          <input
            id="asset-file"
            type="file"
            accept="video/*,.mp4,.mov,.mkv,.webm"
            disabled={disabled || active}
            onChange={(e) => {
              setFile(e.target.files?.[0]);
              setPhase('idle');
              setError(undefined);
            }}
          />
        </div>
        <button type="button" disabled={disabled || !file || active} onClick={() => void start()}>
          Upload
        </button>
        {phase === 'uploading' && (
          <button type="button" className="secondary" onClick={pause}>
            Pause upload
          </button>
        )}
        {phase === 'paused' && (
          <button type="button" onClick={resume}>
            Resume upload
          </button>
        )}
        {(phase === 'uploading' || phase === 'paused') && (
          <button type="button" className="danger" onClick={cancel}>
            Cancel upload
          </button>
        )}
      </div>
      {file && phase !== 'idle' && (
        <div className="upload-progress">
          <progress
            max={100}
            value={pct}
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={pct}
            aria-label={`Upload of ${file.name}`}
          >
            {pct}%
          </progress>
          <p className="muted" aria-live="polite">
            {phase === 'done'
              ? `${file.name}: uploaded (${megabytes(file.size)}).`
              : phase === 'finishing'
                ? `${file.name}: checking the file…`
                : `${file.name}: ${megabytes(sent.bytes)} of ${megabytes(sent.total)} (${pct}%)${
                    phase === 'paused' ? ', paused' : ''
                  }.`}
            {resumedFrom !== undefined && phase !== 'done'
              ? ' Resuming an upload of this file started earlier.'
              : ''}
          </p>
        </div>
      )}
      <ErrorNote error={error} onRetry={phase === 'paused' ? resume : undefined} />
    </>
  );
}
