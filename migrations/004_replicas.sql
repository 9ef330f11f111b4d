-- Replicas seen recently, for `retry-worker status`: every replica upserts its row every few seconds
-- (src/replica-heartbeat.ts). Only the replica itself writes its row; rows not seen for a day are pruned
-- when a replica starts. `leading_epoch` is the epoch the replica executes now (NULL: it follows);
-- `stopped_at` is set by a graceful stop and cleared by the next heartbeat.
CREATE TABLE retry_worker_replicas (
  election_name text        NOT NULL,
  replica_id    text        NOT NULL,
  backend       text        NOT NULL,
  host          text        NOT NULL,
  pid           integer     NOT NULL,
  started_at    timestamptz NOT NULL DEFAULT now(),
  last_seen_at  timestamptz NOT NULL DEFAULT now(),
  leading_epoch bigint,
  stopped_at    timestamptz,
  PRIMARY KEY (election_name, replica_id)
);
