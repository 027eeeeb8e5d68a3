/**
 * The Assets page's preview: a ready asset played with video.js and the Vigil plugin, as a viewer plays
 * it. The console holds no signing secret: `GET /v1/media/{id}/stream-url` gives the signed DASH URL and
 * the viewer token (bound to this browser's address and a preview session of its own).
 */
import { useEffect, useRef, useState } from 'react';
import { ErrorNote, Field, Section, useApp } from '../ui.tsx';

export interface StreamAnswer {
  streamUrl: string;
  licenseUrl: string;
  viewerToken: string;
  expiresAt: string;
  quality: string;
  qualities: string[];
}

const previewSession = () =>
  `console-preview-${[...crypto.getRandomValues(new Uint8Array(6))].map((b) => b.toString(16).padStart(2, '0')).join('')}`;

export function AssetPreview({
  assetId,
  title,
  onClose,
}: {
  assetId: string;
  title: string;
  onClose(): void;
}) {
  const { client, operator } = useApp();
  const host = useRef<HTMLDivElement>(null);
  const [quality, setQuality] = useState('');
  const [stream, setStream] = useState<(StreamAnswer & { sessionId: string }) | undefined>(undefined);
  const [playing, setPlaying] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const [problem, setProblem] = useState('');

  useEffect(() => {
    let live = true;
    let dispose: (() => void) | undefined;
    setPlaying(false);
    setProblem('');
    setError(undefined);
    (async () => {
      const sessionId = previewSession();
      const s = await client.get<StreamAnswer>(
        `/v1/media/${encodeURIComponent(assetId)}/stream-url`,
        `Getting a preview of ${title}`,
        { userId: `console:${operator.name}`, sessionId, quality: quality || undefined },
      );
      const { createPlayer } = await import('../player.ts');
      if (!live || !host.current) return;
      setStream({ ...s, sessionId });
      // video.js owns this element (React renders none inside the host).
      const video = document.createElement('video');
      video.className = 'video-js vjs-big-play-centered';
      video.controls = true;
      video.muted = true;
      video.playsInline = true;
      video.setAttribute('aria-label', `Preview of ${title}`);
      host.current.replaceChildren(video);
      const player = createPlayer(video);
      dispose = () => player.dispose();
      player.on('playing', () => live && setPlaying(true));
      player.on('error', () => {
        const e = player.error();
        if (live) setProblem(`The player could not play it: ${e?.message ?? `error ${e?.code ?? ''}`}.`);
      });
      player.on('vigil:stopped', (_e, d) => {
        if (live) setProblem(`Playback stopped: ${d?.reason ?? d?.message ?? 'by the key server'}.`);
      });
      player.vigil({ server: client.base || location.origin, token: s.viewerToken });
      player.src({ src: s.streamUrl, type: 'application/dash+xml' });
      player.play()?.catch(() => {});
    })().catch((err) => live && setError(err));
    return () => {
      live = false;
      dispose?.();
    };
  }, [client, operator.name, assetId, title, quality]);

  return (
    <Section title={`Preview: ${title}`} id="asset-preview">
      <ErrorNote error={error} />
      {problem && (
        <p className="error" role="alert">
          {problem}
        </p>
      )}
      <p className="muted" role="status">
        {error
          ? ''
          : !stream
            ? 'Loading the player…'
            : playing
              ? `Playing ${stream.quality} as session ${stream.sessionId} (watermarked, keys from Vigil).`
              : `Starting ${stream.quality}…`}
      </p>
      <div className="player" ref={host} />
      <div className="form-row">
        {stream && stream.qualities.length > 1 && (
          <Field label="Rendition">
            {(id) => (
              <select id={id} value={quality || stream.quality} onChange={(e) => setQuality(e.target.value)}>
                {stream.qualities.map((q) => (
                  <option key={q} value={q}>
                    {q}
                  </option>
                ))}
              </select>
            )}
          </Field>
        )}
        <button type="button" className="secondary" onClick={onClose}>
          Close the preview
        </button>
      </div>
    </Section>
  );
}
