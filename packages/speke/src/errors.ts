/**
 * A request the SPEKE endpoint refuses: malformed or hostile XML (400/413), or a well-formed document that
 * is not an acceptable CPIX request (422, with messages like MediaPackage's), or a key id that is taken (409).
 */
export class CpixError extends Error {
  constructor(
    readonly status: 400 | 409 | 413 | 415 | 422,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'CpixError';
  }
}

/** A well-formed document that is not an acceptable CPIX request. */
export const invalid = (message: string, code = 'invalid_cpix') => new CpixError(422, code, message);
