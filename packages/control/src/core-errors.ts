import { BadRequest } from '@vigil/core';
import { ControlError } from './errors.ts';

/** Runs a rule of `@vigil/core` and turns its `BadRequest` into the control plane's error. */
export async function coreRule<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof BadRequest) throw new ControlError(err.status, err.code, err.message);
    throw err;
  }
}
