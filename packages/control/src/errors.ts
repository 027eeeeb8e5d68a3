/**
 * The one error of the control plane. Every operation refuses with a machine-readable `code` and the HTTP
 * status it stands for; the API sends `{statusCode, code, message}`, the CLI prints `code: message` on
 * stderr and exits non-zero. Adapters never choose codes or statuses of their own.
 */
export class ControlError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

/** 400: the input breaks a rule of the operation. */
export const invalid = (code: string, message: string, detail?: Record<string, unknown>) =>
  new ControlError(400, code, message, detail);
/** 403: the actor's role or tenant does not allow it. */
export const forbidden = (message: string, code = 'forbidden') => new ControlError(403, code, message);
/** 404: nothing of that id in the actor's tenant. */
export const notFound = (message: string, code = 'not_found') => new ControlError(404, code, message);
/** 409: it clashes with what exists (a duplicate name, content someone else owns, ...). */
export const conflict = (code: string, message: string, detail?: Record<string, unknown>) =>
  new ControlError(409, code, message, detail);
