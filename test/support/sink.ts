import type { SinkExecution } from '../../src/demo/demo-sink.js';
import { findOverlaps } from '../../src/demo/demo-summary.js';

// The demo's sink is the tests' sink too: one downstream that keeps its own record and refuses stale tokens.
export { DemoSink as Sink, type SinkBehaviour, type SinkExecution as Execution } from '../../src/demo/demo-sink.js';

export interface EvidenceReport {
  overlaps: ReturnType<typeof findOverlaps>['records'];
  replicasPerEpoch: Map<number, Set<string>>;
  termOverlaps: ReturnType<typeof findOverlaps>['terms'];
}

/**
 * Checks the sink's record of the executions it accepted: no two executions of one record overlap; one
 * replica per epoch; terms in order. (Refused ones had no effect: the fencing token stopped them.)
 */
export function checkEvidence(all: readonly SinkExecution[]): EvidenceReport {
  const { records, terms } = findOverlaps(all);
  const replicasPerEpoch = new Map<number, Set<string>>();
  for (const e of all)
    if (!e.refused) replicasPerEpoch.set(e.epoch, (replicasPerEpoch.get(e.epoch) ?? new Set()).add(e.replicaId));
  return { overlaps: records, replicasPerEpoch, termOverlaps: terms };
}
