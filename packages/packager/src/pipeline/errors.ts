/** What went wrong, as a stable code a caller can branch on; the message is one line for a human. */
export type PackagerErrorCode =
  | 'missing_input'
  | 'not_video'
  | 'truncated'
  | 'unsupported_codec'
  | 'no_audio'
  | 'output_unwritable'
  | 'output_not_empty'
  | 'bad_option'
  | 'tool_missing'
  | 'ffmpeg_failed'
  | 'keys_failed'
  | 'encryption_unavailable'
  | 'aborted';

export class PackagerError extends Error {
  constructor(
    readonly code: PackagerErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'PackagerError';
  }
}

export function abortError(): PackagerError {
  return new PackagerError('aborted', 'packaging was cancelled');
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError();
}
