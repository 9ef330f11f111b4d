-- Per-kind control: priority within a kind, fair claiming across kinds, and pausing a kind.

-- Smaller runs first within a kind (default 0). Kinds stay fair to each other whatever their priorities.
ALTER TABLE failed_records ADD COLUMN priority integer NOT NULL DEFAULT 0;

-- The claim takes each kind's due rows in (priority, next_run_at, id) order, and finds the kinds that have
-- pending rows by skipping through this index (one probe per kind), so one kind's backlog never hides
-- another's rows. It replaces the index of due rows in next_run_at order.
CREATE INDEX failed_records_kind_due_idx ON failed_records (kind, priority, next_run_at, id) WHERE status = 'pending';
DROP INDEX failed_records_due_idx;

-- Paused kinds: the claim takes no record of a kind listed here. Executions already started finish.
-- Written by `retry-worker pause` and `resume`; a kind may be paused before any handler knows it.
CREATE TABLE retry_worker_paused_kinds (
  kind      text        PRIMARY KEY CHECK (kind <> ''),
  paused_by text        NOT NULL,
  reason    text,
  paused_at timestamptz NOT NULL DEFAULT now()
);
