import type { ControlError } from '@vigil/control';

/** A mistake in how a command was called: exit code 2. */
export class UsageError extends Error {}

const usageRefusals = new WeakSet<ControlError>();

/** Marks a refusal of the operation as a usage mistake of the command (exit 2 rather than 1). */
export function asUsage(err: unknown): unknown {
  if (typeof err === 'object' && err !== null && (err as ControlError).name === 'ControlError')
    usageRefusals.add(err as ControlError);
  return err;
}

export function usageRefusal(err: ControlError): boolean {
  return usageRefusals.has(err);
}
