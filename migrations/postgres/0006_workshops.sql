-- Instructor-led workshops: the plan, who takes part, and announcements.
CREATE TABLE workshops (
    id                TEXT    PRIMARY KEY,
    title             TEXT    NOT NULL,
    code              TEXT    NOT NULL UNIQUE,
    created_by        BIGINT NOT NULL REFERENCES users (id),
    starts_at         BIGINT NOT NULL,
    ends_at           BIGINT NOT NULL,
    max_participants  BIGINT NOT NULL,
    reserved_labs     BIGINT NOT NULL,
    approval          BIGINT NOT NULL,
    accept_late       BIGINT NOT NULL,
    ended_at          BIGINT,
    created_at        BIGINT NOT NULL
);
-- Lessons, labs and exercises of a workshop, in order; exercises may have a deadline.
CREATE TABLE workshop_items (
    workshop_id  TEXT    NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL CHECK (kind IN ('lesson', 'lab', 'exercise')),
    item         TEXT    NOT NULL,
    deadline     BIGINT,
    position     BIGINT NOT NULL,
    PRIMARY KEY (workshop_id, kind, item)
);
-- Instructors and learners; learners may wait for approval, be removed or banned.
CREATE TABLE workshop_members (
    workshop_id  TEXT    NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT    NOT NULL CHECK (role IN ('instructor', 'learner')),
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'active', 'removed', 'banned')),
    joined_at    BIGINT NOT NULL,
    PRIMARY KEY (workshop_id, user_id)
);
CREATE INDEX workshop_members_user ON workshop_members (user_id, status);
CREATE TABLE workshop_announcements (
    id           TEXT    PRIMARY KEY,
    workshop_id  TEXT    NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    author_id    BIGINT NOT NULL REFERENCES users (id),
    body         TEXT    NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX workshop_announcements_workshop ON workshop_announcements (workshop_id, created_at);
