-- One row per graded attempt at an exercise: what the learner sent (JSON),
-- the result (JSON report) and the rubric it was graded against.
CREATE TABLE submissions (
    id          TEXT    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    exercise    TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    score       INTEGER NOT NULL,
    max_score   INTEGER NOT NULL,
    passed      INTEGER NOT NULL,
    report      TEXT    NOT NULL,
    rubric      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    graded_at   INTEGER NOT NULL
);
CREATE INDEX submissions_user_exercise ON submissions (user_id, exercise, created_at);
CREATE INDEX submissions_exercise ON submissions (exercise, created_at);
