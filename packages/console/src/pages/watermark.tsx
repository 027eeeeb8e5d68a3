/** Watermark: on/off (saved at once), mode, colour-box geometry over a frame, intervals, tamper policy. */
import { type FormEvent, type KeyboardEvent, type MouseEvent, useEffect, useState } from 'react';
import { PALETTE } from '../colour-keyboard.ts';
import {
  canWrite,
  ErrorNote,
  Field,
  LoadState,
  NumberField,
  Section,
  useAction,
  useApp,
  useLoad,
} from '../ui.tsx';

export interface WatermarkConfig {
  enabled: boolean;
  mode: 'text' | 'color';
  textIntervalSeconds: number;
  textOpacity: number;
  box: { x: number; y: number; width: number; height: number; sizeUnit?: 'percent' | 'px' };
  symbolSeconds: number;
  heartbeatSeconds: number;
  tamperPolicy: 'report' | 'stop';
}

/** The preview's picture size, for a box measured in CSS pixels (a 1280×720 player). */
const PREVIEW_PX = { width: 1280, height: 720 };

export function BoxPreview({
  config,
  frame,
  onMove,
  onPlace,
}: {
  config: WatermarkConfig;
  frame: string | undefined;
  onMove?(dx: number, dy: number): void;
  onPlace?(x: number, y: number): void;
}) {
  const b = config.box;
  // The box steps through the palette at the configured pace, as a player shows it.
  const [symbol, setSymbol] = useState(0);
  const stepMs = Math.max(100, (Number.isFinite(config.symbolSeconds) ? config.symbolSeconds : 0.5) * 1000);
  useEffect(() => {
    if (config.mode !== 'color') return;
    const timer = setInterval(() => setSymbol((n) => (n + 1) % PALETTE.length), stepMs);
    return () => clearInterval(timer);
  }, [config.mode, stepMs]);
  const place = (e: MouseEvent<HTMLDivElement>) => {
    if (!onPlace || config.mode !== 'color') return;
    const r = e.currentTarget.getBoundingClientRect();
    onPlace(
      Math.round(((e.clientX - r.left) / r.width) * 200) / 2,
      Math.round(((e.clientY - r.top) / r.height) * 200) / 2,
    );
  };
  const px = b.sizeUnit === 'px';
  const width = px ? (b.width / PREVIEW_PX.width) * 100 : b.width;
  const height = px ? (b.height / PREVIEW_PX.height) * 100 : b.height;
  const key = (e: KeyboardEvent) => {
    const step = e.shiftKey ? 5 : 1;
    const moves: Record<string, [number, number]> = {
      ArrowLeft: [-step, 0],
      ArrowRight: [step, 0],
      ArrowUp: [0, -step],
      ArrowDown: [0, step],
    };
    const m = moves[e.key];
    if (m && onMove) {
      e.preventDefault();
      onMove(m[0], m[1]);
    }
  };
  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: a pointer shortcut; the box itself moves by keyboard
    // biome-ignore lint/a11y/useKeyWithClickEvents: the box (role slider) takes the arrow keys
    <div className="preview" onClick={place} style={frame ? { backgroundImage: `url(${frame})` } : undefined}>
      {!frame && <div className="testcard" aria-hidden="true" />}
      {config.mode === 'color' ? (
        <div
          className="box"
          role="slider"
          tabIndex={onMove ? 0 : -1}
          aria-label="Colour box position (arrow keys move it, Shift for bigger steps)"
          aria-valuetext={`left ${b.x.toFixed(1)}%, top ${b.y.toFixed(1)}%`}
          aria-valuenow={b.x}
          onKeyDown={key}
          style={{
            left: `${b.x}%`,
            top: `${b.y}%`,
            width: `${width}%`,
            height: `${height}%`,
            background: `rgb(${(PALETTE[symbol] ?? [255, 0, 255]).join(',')})`,
          }}
        />
      ) : (
        <span className="textmark" style={{ opacity: config.textOpacity }}>
          session-id
        </span>
      )}
      {!config.enabled && <span className="off-label">Watermark off</span>}
    </div>
  );
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

export function WatermarkPage() {
  const { client, operator, notify } = useApp();
  const saved = useLoad(() => client.get<WatermarkConfig>('/v1/watermark', 'Loading the watermark'), []);
  const [draft, setDraft] = useState<WatermarkConfig | undefined>(undefined);
  const [frame, setFrame] = useState<string | undefined>(undefined);
  const toggle = useAction();
  const save = useAction();
  const writer = canWrite(operator.role, 'admin');

  useEffect(() => {
    if (saved.data) setDraft(saved.data);
  }, [saved.data]);

  const patch = (p: Partial<WatermarkConfig>) => setDraft((d) => (d ? { ...d, ...p } : d));
  const patchBox = (p: Partial<WatermarkConfig['box']>) =>
    setDraft((d) => (d ? { ...d, box: { ...d.box, ...p } } : d));

  // The switch moves at once; a refused change moves it back (with the reason shown beside it).
  const setEnabled = (enabled: boolean) => {
    setDraft((d) => (d ? { ...d, enabled } : d));
    return toggle.run(async () => {
      try {
        const next = await client.put<WatermarkConfig>(
          '/v1/watermark',
          { enabled },
          'Switching the watermark',
        );
        setDraft((d) => (d ? { ...d, enabled: next.enabled } : next));
        notify(
          `Watermark ${next.enabled ? 'on' : 'off'}: players pick it up with their next heartbeat or key.`,
        );
      } catch (err) {
        setDraft((d) => (d ? { ...d, enabled: !enabled } : d));
        throw err;
      }
    });
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!draft) return;
    void save.run(async () => {
      const { enabled: _e, ...rest } = draft;
      const box = { ...rest.box, sizeUnit: rest.box.sizeUnit ?? 'percent' };
      const next = await client.put<WatermarkConfig>(
        '/v1/watermark',
        { ...rest, box },
        'Saving the watermark',
      );
      setDraft(next);
      notify('Watermark settings saved.');
    });
  };

  return (
    <LoadState state={saved} what="the watermark settings">
      {() =>
        draft && (
          <div className="grid two">
            <Section title="Watermark">
              {!writer && (
                <p className="muted">Your role ({operator.role}) can look but not change the watermark.</p>
              )}
              <label className="switch">
                <input
                  type="checkbox"
                  role="switch"
                  aria-checked={draft.enabled}
                  checked={draft.enabled}
                  aria-busy={toggle.busy}
                  onChange={(e) => {
                    if (!toggle.busy) void setEnabled(e.target.checked);
                  }}
                />
                <span>Watermark on</span>
              </label>
              <ErrorNote error={toggle.error} />
              <form onSubmit={submit}>
                <fieldset>
                  <legend>Mode</legend>
                  <label className="radio">
                    <input
                      type="radio"
                      name="mode"
                      checked={draft.mode === 'text'}
                      onChange={() => patch({ mode: 'text' })}
                    />
                    Text (the session id, moving)
                  </label>
                  <label className="radio">
                    <input
                      type="radio"
                      name="mode"
                      checked={draft.mode === 'color'}
                      onChange={() => patch({ mode: 'color' })}
                    />
                    Colour (a box of colours a leak can be traced from)
                  </label>
                </fieldset>
                {draft.mode === 'color' ? (
                  <fieldset>
                    <legend>Colour box</legend>
                    <div className="form-row">
                      <NumberField
                        label="Left (%)"
                        step={0.5}
                        min={0}
                        max={100}
                        value={draft.box.x}
                        onChange={(v) => patchBox({ x: v })}
                      />
                      <NumberField
                        label="Top (%)"
                        step={0.5}
                        min={0}
                        max={100}
                        value={draft.box.y}
                        onChange={(v) => patchBox({ y: v })}
                      />
                      <NumberField
                        label="Width"
                        step={0.5}
                        min={0.5}
                        value={draft.box.width}
                        onChange={(v) => patchBox({ width: v })}
                      />
                      <NumberField
                        label="Height"
                        step={0.5}
                        min={0.5}
                        value={draft.box.height}
                        onChange={(v) => patchBox({ height: v })}
                      />
                      <Field label="Size unit">
                        {(id) => (
                          <select
                            id={id}
                            value={draft.box.sizeUnit ?? 'percent'}
                            onChange={(e) => patchBox({ sizeUnit: e.target.value as 'percent' | 'px' })}
                          >
                            <option value="percent">% of the picture</option>
                            <option value="px">CSS pixels</option>
                          </select>
                        )}
                      </Field>
                      <NumberField
                        label="Seconds per colour"
                        step={0.1}
                        min={0.1}
                        value={draft.symbolSeconds}
                        onChange={(v) => patch({ symbolSeconds: v })}
                      />
                    </div>
                  </fieldset>
                ) : (
                  <fieldset>
                    <legend>Text mark</legend>
                    <div className="form-row">
                      <NumberField
                        label="Moves every (s)"
                        step={1}
                        min={1}
                        value={draft.textIntervalSeconds}
                        onChange={(v) => patch({ textIntervalSeconds: v })}
                      />
                      <NumberField
                        label="Opacity"
                        step={0.05}
                        min={0.05}
                        max={1}
                        value={draft.textOpacity}
                        onChange={(v) => patch({ textOpacity: v })}
                      />
                    </div>
                  </fieldset>
                )}
                <div className="form-row">
                  <NumberField
                    label="Heartbeat every (s)"
                    step={1}
                    min={1}
                    value={draft.heartbeatSeconds}
                    onChange={(v) => patch({ heartbeatSeconds: v })}
                  />
                  <Field label="When tampered with">
                    {(id) => (
                      <select
                        id={id}
                        value={draft.tamperPolicy}
                        onChange={(e) => patch({ tamperPolicy: e.target.value as 'report' | 'stop' })}
                      >
                        <option value="report">Report it</option>
                        <option value="stop">Stop playback</option>
                      </select>
                    )}
                  </Field>
                </div>
                <div className="buttons">
                  <button type="submit" disabled={save.busy || !writer}>
                    {save.busy ? 'Saving…' : 'Save watermark settings'}
                  </button>
                  <button
                    type="button"
                    className="secondary"
                    onClick={() => saved.data && setDraft({ ...saved.data, enabled: draft.enabled })}
                  >
                    Undo changes
                  </button>
                </div>
                <ErrorNote error={save.error} />
              </form>
            </Section>
            <Section title="Preview">
              <BoxPreview
                config={draft}
                frame={frame}
                onPlace={(x, y) => patchBox({ x: clamp(x, 0, 100), y: clamp(y, 0, 100) })}
                onMove={(dx, dy) =>
                  patchBox({ x: clamp(draft.box.x + dx, 0, 100), y: clamp(draft.box.y + dy, 0, 100) })
                }
              />
              <p className="muted">
                Unsaved changes show here first. In colour mode, focus the box and use the arrow keys to move
                it.
              </p>
              <Field
                label="Frame of the stream"
                hint="A still of your stream (PNG or JPEG) to draw the preview over"
              >
                {(id, hint) => (
                  <input
                    id={id}
                    type="file"
                    accept="image/*"
                    aria-describedby={hint}
                    onChange={(e) => {
                      const f = e.target.files?.[0];
                      if (f) setFrame(URL.createObjectURL(f));
                    }}
                  />
                )}
              </Field>
            </Section>
          </div>
        )
      }
    </LoadState>
  );
}
