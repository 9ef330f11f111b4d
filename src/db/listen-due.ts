import { withTimeout } from '../async.js';
import type { Logger } from '../observability/logger.js';
import { createClient } from './pool.js';

/** The insert trigger's channel (migrations 001 and 007): records are due now. */
export const DUE_CHANNEL = 'retry_worker_due';
/** `retry-worker cancel` of an executing record: the payload is the record's id. */
export const CANCEL_CHANNEL = 'retry_worker_cancel';

export interface DueListener {
  /** Ends the connection, bounded by `timeoutMs` (a silent link must not hold a term's end). */
  close(timeoutMs: number): Promise<void>;
}

/**
 * LISTENs for the insert trigger's notifications, and, given `onCancel`, for cancels of executing records
 * (`onCancel` with the record's id), on a connection of its own. If the connection fails,
 * `onError` is told and polling carries on alone. The server is asked to find a dead client quickly
 * (TCP keepalives and a user timeout), so that a listener that vanished does not hold the notification queue.
 */
export function listenForDue(
  databaseUrl: string,
  applicationName: string,
  onDue: () => void,
  onError: (err: Error) => void,
  onCancel?: (recordId: number) => void,
): Promise<DueListener> {
  return listen(databaseUrl, applicationName, { onDue, onCancel }, onError);
}

/**
 * Dispatch mode, on every replica: LISTENs only for cancels of executing records (any replica's consumer may
 * hold the record), on a connection of its own.
 */
export function listenForCancels(
  databaseUrl: string,
  applicationName: string,
  onCancel: (recordId: number) => void,
  onError: (err: Error) => void,
): Promise<DueListener> {
  return listen(databaseUrl, applicationName, { onCancel }, onError);
}

async function listen(
  databaseUrl: string,
  applicationName: string,
  on: { onDue?: () => void; onCancel?: (recordId: number) => void },
  onError: (err: Error) => void,
): Promise<DueListener> {
  const { onDue, onCancel } = on;
  const client = createClient({
    databaseUrl,
    applicationName,
    session: { tcp_keepalives_idle: 10, tcp_keepalives_interval: 5, tcp_keepalives_count: 3, tcp_user_timeout: 30_000 },
  });
  client.on('error', onError);
  client.on('notification', (msg) => {
    if (msg.channel === DUE_CHANNEL) onDue?.();
    else if (msg.channel === CANCEL_CHANNEL && /^\d{1,15}$/.test(msg.payload ?? '')) onCancel?.(Number(msg.payload));
  });
  const close = async (timeoutMs: number) => {
    // On a silent link the server's goodbye never comes: stop waiting (TCP keepalive ends the socket later).
    await withTimeout(client.end(), timeoutMs, 'closing the LISTEN connection').catch(() => undefined);
  };
  try {
    await client.connect();
    // Only the channels someone handles: a notification nobody reads still travels to this connection.
    const channels = [...(onDue ? [DUE_CHANNEL] : []), ...(onCancel ? [CANCEL_CHANNEL] : [])];
    await client.query(channels.map((c) => `LISTEN ${c}`).join('; '));
  } catch (err) {
    await close(1_000);
    throw err;
  }
  return { close };
}

/**
 * listenForDue for a loop that also polls: `wake` on every notification, and once more when LISTEN took effect
 * (for records inserted before); trouble is logged and polling carries on alone (then: undefined).
 */
export async function listenOrPoll(
  databaseUrl: string,
  applicationName: string,
  wake: () => void,
  log: Logger,
  onCancel?: (recordId: number) => void,
): Promise<DueListener | undefined> {
  try {
    const listener = await listenForDue(
      databaseUrl,
      applicationName,
      wake,
      (err) => log.warn({ err }, 'LISTEN connection failed; polling only'),
      onCancel,
    );
    wake();
    return listener;
  } catch (err) {
    log.warn({ err }, 'could not LISTEN for new records; polling only');
    return undefined;
  }
}
