import { createClient } from './pool.js';

export const DUE_CHANNEL = 'retry_worker_due';

export interface DueListener {
  close(): Promise<void>;
}

/**
 * LISTENs for the insert trigger's notifications on a connection of its own. If the connection fails,
 * `onError` is told and polling carries on alone; the caller may listen again on its next term.
 */
export async function listenForDue(databaseUrl: string, applicationName: string, onDue: () => void, onError: (err: Error) => void): Promise<DueListener> {
  const client = createClient({ databaseUrl, applicationName });
  client.on('error', onError);
  client.on('notification', (msg) => {
    if (msg.channel === DUE_CHANNEL) onDue();
  });
  await client.connect();
  await client.query(`LISTEN ${DUE_CHANNEL}`);
  return {
    close: async () => {
      await client.end().catch(() => undefined);
    },
  };
}
