-- One row per lab a learner started: queued, starting, running, then ended.
-- The database is the source of truth; containers carry drydock.* labels.
CREATE TABLE lab_sessions (
    id             TEXT    PRIMARY KEY,
    user_id        BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    lab            TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('queued', 'starting', 'running', 'ended')),
    container_id   TEXT,
    created_at     BIGINT NOT NULL,
    started_at     BIGINT,
    expires_at     BIGINT,
    last_active_at BIGINT NOT NULL,
    extended       BIGINT NOT NULL DEFAULT 0,
    ended_at       BIGINT,
    end_reason     TEXT
);
CREATE INDEX lab_sessions_user ON lab_sessions (user_id, status);
CREATE INDEX lab_sessions_status ON lab_sessions (status, created_at);
