import type { Backend } from './chaos-cluster.js';
import { DISPATCH_BACKENDS, type ExecutionMode, type Fault, type TimeoutSetting } from './fault.js';
import { DISPATCH_FAULTS } from './faults-dispatch.js';
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
export const FAULTS: readonly Fault[] = [
  ...PROCESS_FAULTS,
  ...NETWORK_FAULTS,
  ...SERVER_FAULTS,
  ...RECORD_FAULTS,
  ...DISPATCH_FAULTS,
];

export interface Combination {
  fault: Fault;
  mode: ExecutionMode;
  backend: Backend;
  timeout: TimeoutSetting;
}

const modesOf = (fault: Fault): readonly ExecutionMode[] => fault.modes ?? ['leader'];

/**
 * The backends and execution timeouts a fault runs on in `mode`: in dispatch mode DISPATCH_BACKENDS only and
 * the default timeout only (no shortened timeouts: dispatch mode is shown at the settings users get).
 */
function settingsOf(fault: Fault, mode: ExecutionMode): { backends: Backend[]; timeouts: TimeoutSetting[] } {
  const timeouts = fault.timeouts ?? (['default', 'short'] as const);
  return mode === 'leader'
    ? { backends: [...fault.backends], timeouts: [...timeouts] }
    : {
        backends: fault.backends.filter((b) => DISPATCH_BACKENDS.includes(b)),
        timeouts: timeouts.filter((t) => t === 'default'),
      };
}

/** Every fault in every mode it runs in, on every backend and at each execution timeout it applies to there. */
export function combinations(
  filter: { mode?: string; backend?: string; timeout?: string; only?: string } = {},
): Combination[] {
  const out: Combination[] = [];
  for (const fault of FAULTS) {
    if (filter.only && !fault.name.includes(filter.only)) continue;
    for (const mode of modesOf(fault)) {
      if (filter.mode && mode !== filter.mode) continue;
      const { backends, timeouts } = settingsOf(fault, mode);
      for (const backend of backends) {
        if (filter.backend && backend !== filter.backend) continue;
        for (const timeout of timeouts) {
          if (filter.timeout && timeout !== filter.timeout) continue;
          out.push({ fault, mode, backend, timeout });
        }
      }
    }
  }
  return out;
}

/**
 * The quick form's runs: one per fault in leader mode (if it runs there), backends rotating across the faults
 * that run on several, so that each backend is covered, at the default execution timeout wherever the fault
 * means something at it; and one in dispatch mode for the faults marked quickDispatch.
 */
export function quickCombinations(): Combination[] {
  let turn = 0;
  const out: Combination[] = [];
  for (const fault of FAULTS) {
    if (modesOf(fault).includes('leader')) {
      const backend = fault.backends.length > 1 ? fault.backends[turn++ % fault.backends.length]! : fault.backends[0]!;
      const timeout = fault.timeouts?.includes('default') === false ? fault.timeouts[0]! : 'default';
      out.push({ fault, mode: 'leader', backend, timeout });
    }
    if (fault.quickDispatch) {
      const { backends } = settingsOf(fault, 'dispatch');
      out.push({ fault, mode: 'dispatch', backend: backends[0]!, timeout: 'default' });
    }
  }
  return out;
}
