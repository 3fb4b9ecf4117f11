-- Attempts are numbered per learner and exercise; a unique number per row
-- makes the attempt limit hold when many submissions arrive at once. A
-- reserved attempt is 'grading' until its report is stored.
ALTER TABLE submissions ADD COLUMN attempt BIGINT NOT NULL DEFAULT 0;
ALTER TABLE submissions ADD COLUMN state TEXT NOT NULL DEFAULT 'graded';
UPDATE submissions SET attempt = (
    SELECT COUNT(*) FROM submissions AS earlier
    WHERE earlier.user_id = submissions.user_id
      AND earlier.exercise = submissions.exercise
      AND (earlier.created_at < submissions.created_at
           OR (earlier.created_at = submissions.created_at AND earlier.id <= submissions.id))
);
CREATE UNIQUE INDEX submissions_attempt_key ON submissions (user_id, exercise, attempt);

-- Sessions bound before this time are over (a password change ends them).
ALTER TABLE users ADD COLUMN sessions_valid_after BIGINT NOT NULL DEFAULT 0;
-- When the user was last seen (refreshed every few minutes); stale guests
-- are deleted with their data.
ALTER TABLE users ADD COLUMN last_seen_at BIGINT NOT NULL DEFAULT 0;
UPDATE users SET last_seen_at = created_at;
CREATE INDEX users_guests_seen ON users (role, last_seen_at);
