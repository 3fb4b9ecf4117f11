-- Lesson progress and quiz answers; lessons are identified by "track/slug".
CREATE TABLE lesson_progress (
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    lesson       TEXT    NOT NULL,
    completed_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, lesson)
);

CREATE TABLE quiz_answers (
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    lesson      TEXT    NOT NULL,
    question    TEXT    NOT NULL,
    choices     TEXT    NOT NULL,
    correct     BIGINT NOT NULL,
    answered_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, lesson, question)
);
