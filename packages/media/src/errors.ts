/**
 * The media pipeline's error model: the seed's `MediaException` family (upload, transcoding, DRM,
 * watermarking, piracy detection) as stable codes, each with the HTTP status it stands for. The family is
 * the code's prefix. Adapters map a `MediaError` to the control plane's error unchanged.
 */
export const MEDIA_ERRORS = {
  upload_not_found: 404,
  upload_invalid_filename: 400,
  upload_invalid_mime: 415,
  upload_invalid_size: 400,
  upload_too_large: 413,
  upload_chunk_index: 400,
  upload_chunk_checksum: 400,
  upload_chunk_size: 400,
  upload_checksum_mismatch: 422,
  upload_incomplete: 409,
  upload_expired: 410,
  upload_aborted: 409,
  upload_completed: 409,
  upload_busy: 409,
  upload_empty: 422,
  upload_not_video: 422,
  upload_truncated: 422,
  upload_corrupt: 422,
  upload_unsupported_codec: 422,
  asset_not_found: 404,
  asset_not_ready: 409,
  transcoding_failed: 500,
  transcoding_cancelled: 409,
  transcoding_in_progress: 409,
  drm_unsupported: 400,
  drm_key_unavailable: 409,
  drm_concurrent_streams: 403,
  watermarking_invalid: 400,
  watermarking_not_found: 404,
  monitoring_invalid_period: 400,
  delivery_cdn_invalid: 400,
  delivery_cdn_unconfigured: 409,
  piracy_detection_unavailable: 501,
} as const;

export type MediaErrorCode = keyof typeof MEDIA_ERRORS;

export class MediaError extends Error {
  readonly status: number;
  constructor(
    readonly code: MediaErrorCode,
    message: string,
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'MediaError';
    this.status = MEDIA_ERRORS[code];
  }
}
