-- One row per graded attempt at an exercise: what the learner sent (JSON),
-- the result (JSON report) and the rubric it was graded against.
CREATE TABLE submissions (
    id          TEXT    PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    exercise    TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    score       BIGINT NOT NULL,
    max_score   BIGINT NOT NULL,
    passed      BIGINT NOT NULL,
    report      TEXT    NOT NULL,
    rubric      TEXT    NOT NULL,
    created_at  BIGINT NOT NULL,
    graded_at   BIGINT NOT NULL
);
CREATE INDEX submissions_user_exercise ON submissions (user_id, exercise, created_at);
CREATE INDEX submissions_exercise ON submissions (exercise, created_at);
