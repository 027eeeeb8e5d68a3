import type { TrackType } from '@vigil/keys';
import type { KeySource, KeySpec, PackagingKey } from '@vigil/packager';

/** A key period's keys: one per track type for the CMAF (CENC) fragments, one per track type for HLS AES-128. */
export interface PeriodKeys {
  period: number;
  cmaf: Map<TrackType, PackagingKey>;
  hls: Map<TrackType, PackagingKey>;
}

/**
 * The channel's rotating keys: created in the key server's store one period ahead (so a license for the
 * next period can be answered the moment its first fragment is published), kept in memory while they can
 * still appear in the window.
 */
export class KeyRing {
  readonly #periods = new Map<number, Promise<PeriodKeys>>();

  constructor(
    private readonly source: KeySource,
    private readonly resourceId: string,
    private readonly trackTypes: TrackType[],
  ) {}

  /** The keys of `period`, creating them (and, in the background, the next period's) when needed. */
  async keysFor(period: number): Promise<PeriodKeys> {
    const keys = await this.#ensure(period);
    this.#ensure(period + 1).catch(() => this.#periods.delete(period + 1));
    return keys;
  }

  /** The HLS key id of a period already created, for playlists. */
  peekHlsKid(period: number, trackType: TrackType): string | undefined {
    return this.#settled.get(period)?.hls.get(trackType)?.kid;
  }

  /** Forgets periods before `period` (their keys stay in the store until they expire). */
  forgetBefore(period: number): void {
    for (const p of [...this.#periods.keys()]) {
      if (p < period) {
        this.#periods.delete(p);
        this.#settled.delete(p);
      }
    }
  }

  readonly #settled = new Map<number, PeriodKeys>();

  #ensure(period: number): Promise<PeriodKeys> {
    let pending = this.#periods.get(period);
    if (!pending) {
      const specs: KeySpec[] = this.trackTypes.flatMap((trackType) => [
        { keyPeriod: period, trackType, use: 'cmaf' as const },
        { keyPeriod: period, trackType, use: 'hls-aes128' as const },
      ]);
      pending = this.source.createKeys(this.resourceId, specs, 'cenc').then((keys) => {
        const out: PeriodKeys = { period, cmaf: new Map(), hls: new Map() };
        for (const k of keys) (k.use === 'cmaf' ? out.cmaf : out.hls).set(k.trackType, k);
        this.#settled.set(period, out);
        return out;
      });
      pending.catch(() => this.#periods.delete(period));
      this.#periods.set(period, pending);
    }
    return pending;
  }
}
