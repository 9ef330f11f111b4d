-- Day-2 operations: requeue, discard, cancel and retention.
--
-- status: pending   -> the leader moves it to succeeded, dead or cancelled (an executing record an operator
--                      cancelled), or leaves it pending with a later next_run_at; an operator moves a pending
--                      row that no claim holds to discarded or cancelled;
--         succeeded -> final; an operator may requeue it (back to pending);
--         dead      -> final; an operator may requeue it (pending) or discard it (discarded);
--         discarded -> final; an operator may requeue it;
--         cancelled -> final; an operator may requeue it.
-- Operators move rows only under FOR UPDATE SKIP LOCKED: a row a claim holds (executing) is never touched.
ALTER TABLE failed_records DROP CONSTRAINT failed_records_status_check;
ALTER TABLE failed_records ADD CONSTRAINT failed_records_status_check
  CHECK (status IN ('pending', 'succeeded', 'dead', 'discarded', 'cancelled'));

-- A requeue gives a record a fresh attempt budget without forgetting its attempts: attempts keep counting
-- (the ledger's (record_uid, attempt) stays unique), and the budget is max attempts above attempt_base.
-- A requeue sets attempt_base to the attempts made so far.
ALTER TABLE failed_records ADD COLUMN attempt_base integer NOT NULL DEFAULT 0 CHECK (attempt_base >= 0);

-- An attempt an operator cancelled while it ran ends 'cancelled', not failed.
ALTER TABLE retry_worker_attempts DROP CONSTRAINT failed_record_attempts_outcome_check;
ALTER TABLE retry_worker_attempts ADD CONSTRAINT retry_worker_attempts_outcome_check
  CHECK (outcome IN ('succeeded', 'failed', 'dead', 'skipped', 'cancelled'));

-- What operators did to a record, for `status --record`: who, when, why. Deleted with its record (retention).
-- cancel-requested: the record was executing; the leader was told to abort it.
CREATE TABLE retry_worker_record_actions (
  id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  record_uid uuid        NOT NULL,
  record_id  bigint      NOT NULL,
  action     text        NOT NULL CHECK (action IN ('requeue', 'discard', 'cancel', 'cancel-requested')),
  actor      text        NOT NULL,
  reason     text,
  at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX retry_worker_record_actions_uid_idx ON retry_worker_record_actions (record_uid, id);
