/**
 * The one schema both adapters share (SQLite for the embedded store, PostgreSQL to scale out).
 * Portable types only: text, integer and bigint; times are milliseconds since the epoch; JSON is text;
 * secrets are sealed (see @vigil/keys Envelope) before they reach a row.
 */
export interface Database {
  vigil_meta: { key: string; value: string };
  tenants: {
    id: string;
    name: string;
    secret_sealed: string;
    /** The secret before the last rotation (sealed as `secret_sealed`), verifying until `previous_secret_until`. */
    previous_secret_sealed: string | null;
    previous_secret_until: number | null;
    jwks: string | null;
    allowed_origins: string;
    created_at: number;
    updated_at: number;
  };
  api_keys: {
    hash: string;
    tenant_id: string;
    prefix: string;
    name: string;
    role: string;
    created_at: number;
    revoked_at: number | null;
  };
  content_keys: {
    tenant_id: string;
    kid: string;
    resource_id: string;
    key_sealed: string;
    iv: string;
    key_period: number;
    track_type: string;
    expires_at: number;
    created_at: number;
    /** What made the key when not the tenant itself: `live:<channel id>` (0005_live_key_owner). */
    owner: string | null;
  };
  watermark_configs: { tenant_id: string; config: string; updated_at: number };
  bans: {
    id: string;
    tenant_id: string;
    kind: string;
    value: string;
    reason: string;
    created_at: number;
    expires_at: number | null;
  };
  ban_sightings: {
    ban_id: string;
    tenant_id: string;
    ip: string;
    first_seen: number;
    last_seen: number;
    hits: number;
  };
  access_logs: {
    id: string;
    tenant_id: string;
    session_id: string;
    resource_id: string;
    user_id: string | null;
    ip: string;
    user_agent: string;
    action: string;
    at: number;
    metadata: string | null;
  };
  session_tags: { tenant_id: string; tag: number; session_id: string; first_seen: number };
  stats_minutes: { tenant_id: string; minute: number; outcome: string; count: number };
  live_channels: {
    tenant_id: string;
    id: string;
    resource_id: string;
    settings: string;
    desired: string;
    status: string | null;
    created_at: number;
    updated_at: number;
  };
  /** Console operators: people who sign in to /admin (0008_con_operators). */
  operators: {
    tenant_id: string;
    name: string;
    role: string;
    /** scrypt, self-describing: `scrypt$N=<n>,r=<r>,p=<p>$<salt>$<hash>` (base64url). */
    password_hash: string;
    created_at: number;
    /** When the password was last set. */
    updated_at: number;
  };
  /** Signed-in console sessions, by the SHA-256 of their cookie only (0008_con_operators). */
  console_sessions: {
    hash: string;
    tenant_id: string;
    operator_name: string;
    created_at: number;
    last_seen_at: number;
    /** The absolute expiry; the idle one is last_seen_at + the idle setting. */
    expires_at: number;
    ip: string;
    user_agent: string;
  };
  /** Leak-tracing jobs (0008_det_tables): a clip or a URL to trace, queued, run, answered. */
  detections: {
    tenant_id: string;
    id: string;
    /** queued | running | done | failed */
    status: string;
    /** upload | url */
    source_kind: string;
    /** The URL, or the uploaded clip's file name in the job's folder. */
    source: string;
    mode: string;
    /** Progress in thousandths. */
    progress: number;
    footage_seconds: number;
    /** DetectResult (+ access) as JSON once done. */
    result: string | null;
    error: string | null;
    attempts: number;
    lease_owner: string | null;
    lease_until: number | null;
    created_at: number;
    updated_at: number;
    finished_at: number | null;
  };
  /** Live restreams being watched (desired state; the runner holding the lease runs it). */
  watches: {
    tenant_id: string;
    id: string;
    url: string;
    mode: string;
    /** 1: ban as soon as the tenant's policy's windows agree; 0: the tenant's policy decides. */
    auto_ban: number;
    /** running | stopped (stopped once it banned, or failed for good) */
    desired: string;
    status: string | null;
    lease_owner: string | null;
    lease_until: number | null;
    created_at: number;
    updated_at: number;
  };
  watch_events: { tenant_id: string; watch_id: string; seq: number; at: number; event: string };
  leak_policies: { tenant_id: string; policy: string; updated_at: number };
  /**
   * Failed console sign-ins per key (the SHA-256 of an account or an address, never the name typed),
   * shared by every instance (0008_con_signin_failures).
   */
  signin_failures: { key: string; failures: number; last_at: number; blocked_until: number };
  /** Chunked uploads in progress or done (0008_med_media). */
  media_uploads: {
    id: string;
    tenant_id: string;
    filename: string;
    mime_type: string;
    file_size: number;
    chunk_size: number;
    total_chunks: number;
    metadata: string;
    /** uploading | completing | completed | aborted | expired */
    status: string;
    sha256: string | null;
    asset_id: string | null;
    created_by: string;
    created_at: number;
    updated_at: number;
    expires_at: number;
  };
  media_upload_chunks: {
    upload_id: string;
    tenant_id: string;
    idx: number;
    size: number;
    sha256: string;
    received_at: number;
  };
  media_assets: {
    id: string;
    tenant_id: string;
    upload_id: string | null;
    title: string;
    description: string;
    uploader_id: string;
    /** MediaStatus: uploading | processing | transcoding | protecting | ready | failed | expired */
    status: string;
    progress: number;
    error_code: string | null;
    error_message: string | null;
    source_key: string;
    source_size: number;
    source_sha256: string;
    mime_type: string;
    /** VideoMetadata JSON once probed. */
    metadata: string | null;
    /** MediaVariant[] JSON once packaged. */
    variants: string | null;
    created_at: number;
    updated_at: number;
  };
  /** The embedded job queue (one job per asset processing run). */
  media_jobs: {
    id: string;
    tenant_id: string;
    asset_id: string;
    /** queued | running | done | failed | cancelled */
    status: string;
    attempts: number;
    max_attempts: number;
    run_at: number;
    locked_by: string | null;
    locked_until: number | null;
    last_error: string | null;
    created_at: number;
    updated_at: number;
  };
  /** An asset's license usage policy (0008_med_protection). */
  media_policies: { tenant_id: string; asset_id: string; policy: string; updated_at: number };
  /** Recent licenses per user and device: what concurrent-stream limits count. */
  media_streams: {
    tenant_id: string;
    user_id: string;
    device_id: string;
    asset_id: string;
    last_seen: number;
  };
  /** An asset's own watermark config, over the tenant's (0009_mapi_watermarks). */
  media_watermarks: {
    tenant_id: string;
    asset_id: string;
    watermark_id: string;
    /** The seed's WatermarkConfig as posted, JSON. */
    seed: string;
    /** The Vigil WatermarkConfig patch it maps to, JSON. */
    config: string;
    updated_at: number;
  };
  /** A tenant's CloudFront signer (0009_mapi_cloudfront); the key sealed (`cloudfront-key:<tenant>`). */
  media_cloudfront: {
    tenant_id: string;
    key_pair_id: string;
    private_key_sealed: string;
    domain: string;
    updated_at: number;
  };
}
