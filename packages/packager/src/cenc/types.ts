export type Scheme = 'cenc' | 'cbcs';

export interface TrackInfo {
  trackId: number;
  handler: 'vide' | 'soun';
  /** the clear sample entry's four-character code: 'avc1', 'avc3', 'mp4a', … */
  codec: string;
  timescale: number;
  /** avc: bytes of each NAL unit's length prefix (avcC lengthSizeMinusOne + 1) */
  nalLengthSize?: number;
  /** avc: the parameter set NAL units of the avcC box */
  sps?: Buffer[];
  pps?: Buffer[];
  /** `trex` default_sample_size, for fragments that give sample sizes neither in `trun` nor `tfhd` */
  defaultSampleSize?: number;
}

/** One entry of a sample's subsample map: clear bytes, then protected bytes. */
export interface Subsample {
  clear: number;
  protected: number;
}
