import type { Elector } from '../../src/election/elector.js';
import type { Term } from '../../src/election/term.js';

export interface Candidate<E extends Elector = Elector> {
  id: string;
  elector: E;
  /** Every term it won, in order. */
  terms: Term[];
  leading(): boolean;
  /** The term it holds now, if any. */
  live(): Term | undefined;
}

/** Starts `elector` with an onTerm that records each term and holds it until it ends. */
export function candidate<E extends Elector>(id: string, elector: E): Candidate<E> {
  const terms: Term[] = [];
  elector.start(async (term) => {
    terms.push(term);
    await new Promise((resolve) => term.signal.addEventListener('abort', resolve, { once: true }));
  });
  const live = () => terms.find((t) => !t.signal.aborted);
  return { id, elector, terms, leading: () => live() !== undefined, live };
}
