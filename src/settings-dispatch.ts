import type { Setting } from './setting.js';

export const EXECUTION_MODES = ['leader', 'dispatch'] as const;
export type ExecutionMode = (typeof EXECUTION_MODES)[number];

/** The settings of scenario 2 (EXECUTION_MODE=dispatch), in SETTINGS (settings.ts) after the election's. */
export const DISPATCH_SETTINGS = {
  executionMode: {
    env: 'EXECUTION_MODE',
    group: 'dispatch',
    kind: { type: 'enum', values: EXECUTION_MODES },
    default: 'leader',
    help:
      'leader: only the leader executes (scenario 1); dispatch: the leader publishes due records to RabbitMQ ' +
      '(AMQP_URL) and every replica executes them (scenario 2)',
  },
  amqpUrl: {
    env: 'AMQP_URL',
    group: 'dispatch',
    kind: { type: 'url', protocols: ['amqp:', 'amqps:'] },
    default: undefined,
    optional: true,
    secret: true,
    help: 'EXECUTION_MODE=dispatch: the RabbitMQ URL (required there), e.g. amqp://user:pass@rabbit:5672/vhost',
  },
  dispatchRedeliverAfterMs: {
    env: 'DISPATCH_REDELIVER_AFTER_MS',
    group: 'dispatch',
    kind: { type: 'int', min: 1_000, max: 86_400_000 },
    default: 120_000,
    help:
      'EXECUTION_MODE=dispatch: a due record whose message was published this long ago and is not executing ' +
      '(the message was lost) is published again; keep it above queue wait + execution time',
  },
} satisfies Record<string, Setting>;
