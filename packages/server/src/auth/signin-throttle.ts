import { createHash } from 'node:crypto';
import type { OperatorStore } from '@vigil/store';

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/**
 * Failed sign-ins per key (an account, an address), kept in the store so every instance on one database
 * counts the same: from `delayAfter` failures on, each attempt must wait 1, 2, 4, ... seconds after the
 * last failure; at `lockAfter` the key is locked for the lock time. An attempt refused for waiting counts
 * as a failure too, so hammering only locks sooner. Keys are SHA-256 hashes: what was typed as a name is
 * never stored. A key quiet for an hour past the lock time starts again from nothing.
 */
export class FailureCounter {
  constructor(
    private readonly operators: OperatorStore,
    private readonly scope: string,
    private readonly delayAfter: number,
    private readonly lockAfter: number,
    private readonly lockMs: number,
    private readonly resetOnSuccess: boolean,
  ) {}

  get forgetMs(): number {
    return this.lockMs + 3_600_000;
  }

  private key(key: string): string {
    return sha256(`${this.scope}\u0000${key}`);
  }

  /** Milliseconds to wait before an attempt is allowed; 0 when it is. */
  async wait(key: string, now: number): Promise<number> {
    const e = await this.operators.signInFailures(this.key(key));
    if (!e || now - e.lastAt > this.forgetMs) return 0;
    return Math.max(0, e.blockedUntil - now);
  }

  async fail(key: string, now: number, refused: boolean): Promise<void> {
    const k = this.key(key);
    const failures = await this.operators.addSignInFailure(k, now, now - this.forgetMs);
    if (failures >= this.lockAfter) await this.operators.blockSignIns(k, now + this.lockMs);
    else if (!refused && failures >= this.delayAfter)
      await this.operators.blockSignIns(
        k,
        now + Math.min(1000 * 2 ** (failures - this.delayAfter), this.lockMs),
      );
  }

  async succeed(key: string): Promise<void> {
    if (this.resetOnSuccess) await this.operators.clearSignInFailures(this.key(key));
  }
}
