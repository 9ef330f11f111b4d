-- Every record gets an identity that is never reused, even when its id is (TRUNCATE ... RESTART IDENTITY, an
-- explicit id): the attempt ledger refers to it, so a new record never inherits an old one's attempts, and the
-- built-in http handler sends it as the Idempotency-Key. Existing rows each get a fresh one. It has no index
-- of its own: the worker never looks a record up by it (the ledger is looked up by it, below), and every
-- completion of a record writes a new row version into each of its indexes.
ALTER TABLE failed_records ADD COLUMN uid uuid NOT NULL DEFAULT gen_random_uuid();

-- The ledger refers to records by that identity. Attempts claimed but never started are no longer marked
-- 'skipped': their rows are deleted before their batch ends (they never ran). Old such rows go now.
ALTER TABLE retry_worker_attempts ADD COLUMN record_uid uuid;
UPDATE retry_worker_attempts a SET record_uid = f.uid FROM failed_records f WHERE f.id = a.record_id;
DELETE FROM retry_worker_attempts WHERE outcome = 'skipped';
-- Replicas of the previous release, still running during a rolling upgrade, write ledger rows without it: the
-- row gets its record's identity on the way in (the trigger runs only for such rows).
CREATE FUNCTION retry_worker_attempts_record_uid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.record_uid := (SELECT uid FROM failed_records WHERE id = NEW.record_id);
  RETURN NEW;
END
$$;
CREATE TRIGGER retry_worker_attempts_record_uid
  BEFORE INSERT ON retry_worker_attempts
  FOR EACH ROW WHEN (NEW.record_uid IS NULL) EXECUTE FUNCTION retry_worker_attempts_record_uid();

-- One row per attempt of a record: a second start of the same attempt is refused by the database itself.
CREATE UNIQUE INDEX retry_worker_attempts_record_uid_attempt_idx ON retry_worker_attempts (record_uid, attempt);
DROP INDEX retry_worker_attempts_record_idx;

-- Every term has a token of its own (a UUID) beside its epoch. The fence compares both, so two terms that
-- were handed the same epoch (a Redis failover that lost the last INCR, an etcd restored from a snapshot)
-- are told apart, and the second is refused.
ALTER TABLE retry_worker_leader ADD COLUMN token uuid;
ALTER TABLE retry_worker_terms ADD COLUMN token uuid;
ALTER TABLE retry_worker_lease ADD COLUMN token uuid;

-- The view gains the record's identity (at the end: the columns before keep their places).
CREATE OR REPLACE VIEW failed_record_attempts AS
  SELECT a.id, a.record_id, a.attempt, a.epoch, a.replica_id, a.started_at,
         coalesce(a.finished_at, CASE WHEN a.outcome IS NULL THEN (
           SELECT f.finished_at FROM failed_records f WHERE f.id = a.record_id AND (a.record_uid IS NULL OR f.uid = a.record_uid) AND f.status = 'succeeded' AND f.attempts = a.attempt) END) AS finished_at,
         coalesce(a.outcome, (
           SELECT 'succeeded'::text FROM failed_records f WHERE f.id = a.record_id AND (a.record_uid IS NULL OR f.uid = a.record_uid) AND f.status = 'succeeded' AND f.attempts = a.attempt)) AS outcome,
         a.error,
         a.record_uid
  FROM retry_worker_attempts a;

-- The wake-up NOTIFY must never make a producer's INSERT fail. Postgres refuses to commit a transaction that
-- notifies while the notification queue is full, and a listener that stopped reading (a paused process, a
-- half-open connection) holds the queue back. So the trigger stays quiet once the queue is half full
-- (retry_worker.notify_max_queue_usage, a fraction, changes that): the leader polls anyway.
CREATE OR REPLACE FUNCTION retry_worker_notify_due() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF pg_notification_queue_usage() < coalesce(nullif(current_setting('retry_worker.notify_max_queue_usage', true), '')::float8, 0.5) THEN
    PERFORM pg_notify('retry_worker_due', '');
  END IF;
  RETURN NULL;
END
$$;
