import type { Channel, ConsumeMessage } from 'amqplib';
import type pg from 'pg';
import { sleep, withTimeout } from '../async.js';
import type { Clock } from '../clock.js';
import type { ExecutionConfig } from '../config.js';
import { dispatchHeld, heldKey } from '../db/dispatch-held.js';
import { lockDispatched } from '../db/lock-dispatched.js';
import type { TermLockKey } from '../db/term-lock.js';
import { ExecutionAborted } from '../errors.js';
import type { KindRegistry } from '../executor/kinds.js';
import { AttemptLedger } from '../loop/attempt-ledger.js';
import { type PlanRules, planAttempt, waitAfterDiedAttempt } from '../loop/attempts.js';
import { Batch, type Entry } from '../loop/batch.js';
import { ClaimSession } from '../loop/claim-session.js';
import { DatabaseContact } from '../loop/database-contact.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Timings } from '../timings.js';
import { BrokerLink } from './broker-link.js';
import { type Delivery, DeliveryGroups } from './delivery-groups.js';
import { type DispatchMessage, parseMessage, QUEUE_OPTIONS } from './dispatch-message.js';
import { type Settle, Settlements } from './settlements.js';

export interface ConsumerDeps {
  url: string;
  queue: string;
  /** The consumer's own pool: CONCURRENCY transactions at once, and the ledger's writes beside them. */
  pool: pg.Pool;
  electionName: string;
  lockKey: TermLockKey;
  replicaId: string;
  execution: ExecutionConfig;
  payloadMaxBytes: number;
  timings: Timings;
  kinds: KindRegistry;
  metrics: Metrics;
  clock: Clock;
  log: Logger;
}

/** A message that could not be settled here goes back to the queue after this long (a broken link, a drain). */
const REQUEUE_AFTER_MS = 1_000;

/**
 * Dispatch mode, on every replica (the leader too): consumes the queue with a prefetch of 2 × CONCURRENCY, and
 * executes at most CONCURRENCY records at once on the same path as leader mode. Deliveries that arrive together
 * form a group (DeliveryGroups), locked, executed and committed in one transaction as a claimed batch is:
 *
 *   lock the group's rows (FOR UPDATE SKIP LOCKED; still pending, due, not paused, carrying their tokens)
 *     ├── no row: stale or duplicate ──▶ ack, counted as dropped
 *     ├── no row, but the record is due under this token: locked elsewhere ──▶ nack after a second
 *     └── row ──▶ plan (the ledger decides) ──▶ ledger row ──▶ handler ──▶ classify ──▶ completion + COMMIT ──▶ ack
 *                 rows uncertain (Postgres link lost: the handler's signal aborts), completion failed,
 *                 or not started (draining) ──▶ roll back, nack: the message goes back to the queue
 *
 * The rows stay locked for the whole execution of their group, in a transaction that holds the handover barrier
 * shared; a message is acknowledged only after its outcome is committed. A consumer that dies (or whose channel
 * does) leaves its messages unacknowledged: the broker delivers them again, and the ledger counts the attempt.
 * The copy may reach another consumer before Postgres has ended the dead one's transaction: its row is still
 * locked then, so the copy goes back to the queue rather than being dropped (it is the record's only message).
 */
export class DispatchConsumer {
  private readonly link: BrokerLink;
  private readonly contact: DatabaseContact;
  private readonly rules: PlanRules;
  private readonly batches = new Set<Batch>();
  private readonly running = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();
  /**
   * The ledger and loggers of the epoch Postgres holds (nearly always one): concurrent messages' ledger writes
   * go together, and no message pays for loggers of its own.
   */
  private epochState: { ledger: AttemptLedger; log: Logger; successLog: Logger } | undefined;
  /** The current channel's subscription, cancelled when the consumer stops. */
  private subscription: { channel: Channel; consumerTag: string } | undefined;
  private readonly stopping = new AbortController();
  private readonly groups: DeliveryGroups;
  private readonly settlements = new Settlements();

  constructor(private readonly deps: ConsumerDeps) {
    this.groups = new DeliveryGroups(deps.execution.concurrency, (group, release) =>
      this.track(this.runGroup(group, release)),
    );
    this.rules = {
      kinds: deps.kinds,
      defaultMaxAttempts: deps.execution.defaultMaxAttempts,
      payloadMaxBytes: deps.payloadMaxBytes,
    };
    this.contact = new DatabaseContact(deps.clock, deps.timings.databaseGraceMs, (failingForMs, err) =>
      deps.log.error(
        { err, failingForMs: Math.round(failingForMs) },
        'consumer: Postgres has not answered for a lease TTL',
      ),
    );
    this.link = new BrokerLink({
      url: deps.url,
      role: 'consumer',
      log: deps.log,
      // Deliveries of the closed connection not started yet: the broker has them back, to deliver again.
      onClosed: () => void this.groups.drain(),
      setup: async (connection) => {
        const channel = await connection.createChannel();
        channel.on('error', () => undefined);
        await channel.assertQueue(deps.queue, QUEUE_OPTIONS);
        await channel.prefetch(2 * deps.execution.concurrency);
        const { consumerTag } = await channel.consume(deps.queue, (msg) => msg && this.onMessage(channel, msg), {
          noAck: false,
        });
        this.subscription = { channel, consumerTag };
        return channel;
      },
    });
  }

  start(): void {
    this.link.start();
  }

  /**
   * An operator cancelled a record (`retry-worker cancel`, NOTIFY): if a message of this consumer holds it, its
   * handler's signal aborts (reason `cancelled`) and the attempt and the record end cancelled. Returns whether
   * this consumer holds it.
   */
  cancel(recordId: number): boolean {
    let held = false;
    for (const batch of this.batches) held = batch.cancel(recordId) || held;
    return held;
  }

  /** Aborts every handler running here (an event-loop stall, the shutdown timeout). */
  abort(reason: ExecutionAborted): void {
    for (const batch of this.batches) batch.abort(reason);
  }

  /** Executions running here now, by kind. */
  executingByKind(): ReadonlyMap<string, number> {
    return this.running;
  }

  /**
   * Stops taking messages; lets running executions finish (their signals abort after `timeoutMs`); then closes
   * the link, which returns every unacknowledged message to the queue. Safe twice.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping.abort();
    // No more deliveries: a message that arrived now would only go back to the queue.
    const subscription = this.subscription;
    if (subscription)
      await withTimeout(subscription.channel.cancel(subscription.consumerTag), 2_000, 'cancelling').catch(
        () => undefined,
      );
    this.settlements.settle(this.groups.drain(), 'requeue'); // delivered, not started
    const shutdown = new ExecutionAborted('shutdown', `shutdown: in-flight execution aborted after ${timeoutMs} ms`);
    const timer = setTimeout(() => this.abort(shutdown), timeoutMs);
    try {
      while (this.inFlight.size > 0) await Promise.all(this.inFlight);
    } finally {
      clearTimeout(timer);
    }
    this.contact.stop();
    await this.link.stop();
  }

  private track(work: Promise<void>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  /**
   * A delivery joins the group of those that arrive with it (a burst the broker sent together; DeliveryGroups
   * says when a group forms): the group is locked, executed and committed in one transaction.
   */
  private onMessage(channel: Channel, msg: ConsumeMessage): void {
    const { metrics, log } = this.deps;
    this.settlements.delivered(channel, msg);
    metrics.dispatch.consumed(msg.fields.redelivered);
    const message = parseMessage(msg.content);
    if (!message) {
      log.warn({ deliveryTag: msg.fields.deliveryTag }, 'dropped a message that is not a dispatched record');
      metrics.dispatch.dropped('malformed');
      this.settlements.settle([{ channel, msg }], 'ack');
      return;
    }
    this.groups.add({ channel, msg, message });
  }

  private async runGroup(group: readonly Delivery[], release: (n: number) => void): Promise<void> {
    const outcomes = await this.execute(
      group.map((d) => d.message),
      release,
    ).catch((err: unknown) => {
      this.deps.log.warn(
        { err, recordIds: group.map((d) => d.message.id) },
        'could not execute dispatched records; they go back to the queue',
      );
      return group.map((): Settle => 'requeue');
    });
    release(group.length);
    const settle = (how: Settle) =>
      this.settlements.settle(
        group.filter((_, i) => outcomes[i] === how),
        how,
      );
    settle('ack');
    this.groups.settled();
    if (!outcomes.includes('requeue')) return;
    await sleep(REQUEUE_AFTER_MS, this.stopping.signal);
    settle('requeue');
  }

  /**
   * Locks, plans and runs a group's records in one transaction; says of each message whether it is done with
   * (ack) or goes back (requeue).
   */
  private async execute(messages: readonly DispatchMessage[], release: (n: number) => void): Promise<Settle[]> {
    const { pool, timings, clock, metrics, replicaId, electionName: name, lockKey, payloadMaxBytes } = this.deps;
    if (this.stopping.signal.aborted) return messages.map(() => 'requeue');
    const { session, rows } = await ClaimSession.lock({ pool, timings, clock, contact: this.contact }, (client) =>
      lockDispatched(client, { name, lockKey, messages, payloadMaxBytes }),
    );
    const locked = new Set(rows.map(heldKey));
    // Messages whose rows were not locked: stale copies (dropped), or records locked elsewhere (back).
    const unlocked = messages.filter((m) => !locked.has(heldKey(m)));
    const others = withTimeout(dispatchHeld(pool, unlocked), timings.databaseTimeoutMs, 'checking unlocked records')
      .catch(() => new Set(unlocked.map(heldKey))) // unknown: back to the queue
      .then((held) => {
        for (const m of unlocked) if (!held.has(heldKey(m))) metrics.dispatch.dropped('not-due');
        return held;
      });
    const outcome = (m: DispatchMessage, ran: boolean, held: ReadonlySet<string>) => {
      if (locked.has(heldKey(m))) return ran ? 'ack' : 'requeue';
      return held.has(heldKey(m)) ? 'requeue' : 'ack';
    };
    if (!session) {
      const held = await others;
      return messages.map((m) => outcome(m, false, held));
    }
    const epoch = rows[0]!.epoch;
    if (this.epochState?.ledger.epoch !== epoch) {
      const log = this.deps.log.child({ epoch });
      const ledger = new AttemptLedger(pool, epoch, replicaId, timings.databaseTimeoutMs, log, this.contact, clock);
      this.epochState = { ledger, log, successLog: log.child({}, { redact: [] }) };
    }
    const { ledger, log, successLog } = this.epochState;
    const batch = new Batch(
      {
        term: { epoch, isSafe: () => !this.stopping.signal.aborted },
        ledger,
        timings,
        replicaId,
        metrics,
        log,
        successLog,
        isDraining: () => this.stopping.signal.aborted,
        onExecutionEnded: (kind) => {
          this.running.set(kind, (this.running.get(kind) ?? 1) - 1);
          release(1);
        },
        onEnded: () => this.batches.delete(batch),
      },
      session,
    );
    this.batches.add(batch);
    const entries: Entry[] = [];
    for (const row of rows) {
      batch.hold(row);
      const plan = waitAfterDiedAttempt(row, planAttempt(row, this.rules));
      if (plan.action === 'settle') batch.settle(plan.completion);
      else entries.push(batch.entry(row, plan));
    }
    batch.sealed();
    release(messages.length - entries.length); // the messages whose records do not run
    const notStarted = new Set<number>();
    const start = async (e: Entry) => {
      if (await this.startEntry(e, ledger, batch)) return;
      release(1);
      notStarted.add(e.row.id);
    };
    await Promise.all(entries.map(start));
    const [held] = await Promise.all([others, batch.ended]);
    for (const e of entries) if (batch.committed && !notStarted.has(e.row.id)) metrics.dispatch.executed();
    return messages.map((m) => outcome(m, batch.committed && !notStarted.has(m.id), held));
  }

  /** Records the attempt in the ledger, then starts it; false if it did not start (its batch has it skipped). */
  private async startEntry(entry: Entry, ledger: AttemptLedger, batch: Batch): Promise<boolean> {
    const { id: recordId, uid: recordUid } = entry.row;
    try {
      entry.ledgerId = await ledger.startOne({ recordId, recordUid, attempt: entry.attempt });
    } catch (err) {
      this.deps.log.warn({ err, recordId: entry.row.id }, 'could not record the attempt; the message goes back');
      batch.skip(entry, 'ledger-failed');
      return false;
    }
    const kind = entry.kind.name;
    if (!batch.start(entry)) return false;
    this.running.set(kind, (this.running.get(kind) ?? 0) + 1);
    return true;
  }
}
