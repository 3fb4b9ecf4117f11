-- Lesson progress and quiz answers; lessons are identified by "track/slug".
CREATE TABLE lesson_progress (
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    lesson       TEXT    NOT NULL,
    completed_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, lesson)
);

CREATE TABLE quiz_answers (
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    lesson      TEXT    NOT NULL,
    question    TEXT    NOT NULL,
    choices     TEXT    NOT NULL,
    correct     INTEGER NOT NULL,
    answered_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, lesson, question)
);
