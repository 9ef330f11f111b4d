-- The fence: the highest epoch any leader of an election has stored. A leader claims only while this row
-- still holds its own epoch; a new leader raises it, never lowers it.
CREATE TABLE retry_worker_leader (
  name   text        PRIMARY KEY,
  epoch  bigint      NOT NULL,
  holder text        NOT NULL,
  since  timestamptz NOT NULL DEFAULT now()
);

-- Every term that reached Postgres, for `status` and the audit trail.
CREATE TABLE retry_worker_terms (
  name       text        NOT NULL,
  epoch      bigint      NOT NULL,
  holder     text        NOT NULL,
  backend    text        NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  ended_at   timestamptz,
  end_reason text,
  PRIMARY KEY (name, epoch)
);

-- The attempt ledger: one row per attempt, written on its own connection before the handler runs, so a
-- crash that rolls back the claim transaction cannot erase it. outcome NULL: running, or its executor died.
-- 'skipped': claimed but never handed to a handler (the term ended first); it does not count as an attempt.
CREATE TABLE failed_record_attempts (
  id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  record_id   bigint      NOT NULL,
  attempt     integer     NOT NULL,
  epoch       bigint      NOT NULL,
  replica_id  text        NOT NULL,
  started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at timestamptz,
  outcome     text        CHECK (outcome IN ('succeeded', 'failed', 'dead', 'skipped')),
  error       text
);

CREATE INDEX failed_record_attempts_record_idx ON failed_record_attempts (record_id, attempt);
