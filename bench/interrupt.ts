/**
 * What an interrupted bench (Ctrl-C, a CI timeout's SIGTERM) must undo: the processes it spawned, the databases
 * it created, its etcd and Postgres. Each is registered when made and unregistered when undone the normal way;
 * on SIGINT or SIGTERM the ones left are undone, newest first (children before the databases they use, those
 * before the servers), and the bench exits.
 */
const undos = new Map<number, { what: string; undo: () => Promise<unknown> }>();
let serial = 0;

/** Registers `undo` (for `what`, named in the log if it fails); returns its unregistration. */
export function undoOnInterrupt(what: string, undo: () => Promise<unknown>): () => void {
  const key = ++serial;
  undos.set(key, { what, undo });
  return () => void undos.delete(key);
}

export function handleInterrupts(log: (message: string) => void): void {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping what this run started (${undos.size})`);
      void (async () => {
        for (const [key, { what, undo }] of [...undos].reverse()) {
          undos.delete(key);
          await undo().catch((err: unknown) => log(`could not stop ${what}: ${String(err)}`));
        }
        process.exit(code);
      })();
    });
  }
}
