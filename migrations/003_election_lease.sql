-- The Postgres election backend's lease: one row per election name, taken and renewed by single statements
-- judged by the database's clock, never a replica's. `epoch` grows with every acquisition (a new holder, or
-- the same holder after its term ended), so it can serve as the fence epoch. Releasing a lease moves
-- expires_at into the past but keeps the row, so the next acquisition still raises the epoch.
CREATE TABLE retry_worker_lease (
  name       text        PRIMARY KEY,
  holder     text,
  epoch      bigint      NOT NULL CHECK (epoch > 0),
  expires_at timestamptz NOT NULL
);
