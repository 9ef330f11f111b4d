import type { Backend } from './chaos-cluster.js';
import type { Fault, TimeoutSetting } from './fault.js';
import { NETWORK_FAULTS } from './faults-network.js';
import { PROCESS_FAULTS } from './faults-process.js';
import { RECORD_FAULTS } from './faults-records.js';
import { SERVER_FAULTS } from './faults-servers.js';

export type { Fault } from './fault.js';

/**
 * Every fault of the suite. Not here: a pause the monotonic clock does not see (a suspended host). It is
 * tested in-process with an injected clock (test/row-safety.test.ts, test/clock.test.ts): libfaketime, the
 * process-level tool, shifts CLOCK_MONOTONIC and CLOCK_REALTIME by one offset, so it cannot freeze the one
 * while the other jumps (docs/RELIABILITY.md).
 */
export const FAULTS: readonly Fault[] = [...PROCESS_FAULTS, ...NETWORK_FAULTS, ...SERVER_FAULTS, ...RECORD_FAULTS];

export interface Combination {
  fault: Fault;
  backend: Backend;
  timeout: TimeoutSetting;
}

/** Every fault on every backend it applies to, at each execution timeout it means something at. */
export function combinations(filter: { backend?: string; timeout?: string; only?: string } = {}): Combination[] {
  const out: Combination[] = [];
  for (const fault of FAULTS) {
    if (filter.only && !fault.name.includes(filter.only)) continue;
    for (const backend of fault.backends) {
      if (filter.backend && backend !== filter.backend) continue;
      for (const timeout of fault.timeouts ?? (['default', 'short'] as const)) {
        if (filter.timeout && timeout !== filter.timeout) continue;
        out.push({ fault, backend, timeout });
      }
    }
  }
  return out;
}

/**
 * The quick form's one run per fault: backends rotate across the faults that run on several, so that each
 * backend is covered; the default execution timeout wherever the fault means something at it.
 */
export function quickCombinations(): Combination[] {
  let turn = 0;
  return FAULTS.map((fault) => {
    const backend = fault.backends.length > 1 ? fault.backends[turn++ % fault.backends.length]! : fault.backends[0]!;
    const timeout = fault.timeouts?.includes('default') === false ? fault.timeouts[0]! : 'default';
    return { fault, backend, timeout };
  });
}
