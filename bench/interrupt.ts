/**
 * What an interrupted bench (Ctrl-C, a CI timeout's SIGTERM) must undo: the processes it spawned, the databases
 * it created, its etcd and Postgres. Each is registered when made and unregistered when undone the normal way;
 * on SIGINT or SIGTERM the ones left are undone, newest first (children before the databases they use, those
 * before the servers), and the bench exits.
 */
const undos = new Set<{ what: string; undo: () => Promise<unknown> }>();

/** Registers `undo` (for `what`, named in the log if it fails); returns its unregistration. */
export function undoOnInterrupt(what: string, undo: () => Promise<unknown>): () => void {
  const entry = { what, undo };
  undos.add(entry);
  return () => void undos.delete(entry);
}

export function handleInterrupts(log: (message: string) => void): void {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping what this run started (${undos.size})`);
      void (async () => {
        for (const entry of [...undos].reverse()) {
          undos.delete(entry);
          const { what, undo } = entry;
          await undo().catch((err: unknown) => log(`could not stop ${what}: ${String(err)}`));
        }
        process.exit(code);
      })();
    });
  }
}
