/** The shape of one setting of SETTINGS (settings.ts): how its value is checked, where it goes in Config. */
export type Kind =
  | { type: 'string' }
  | { type: 'int'; min: number; max: number }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'urls'; protocols: readonly string[] }
  | { type: 'url'; protocols: readonly string[] }
  | { type: 'hosts' };

export type Group =
  | 'top'
  | 'database'
  | 'election'
  | 'etcd'
  | 'claim'
  | 'execution'
  | 'retention'
  | 'dispatch'
  | 'httpHandler'
  | 'http';

export interface Setting {
  readonly env: string;
  readonly group: Group;
  readonly kind: Kind;
  /** `undefined`: required, unless `optional`. */
  readonly default: unknown;
  readonly optional?: boolean;
  /** Never echoed in an error message. */
  readonly secret?: boolean;
  readonly help: string;
}
