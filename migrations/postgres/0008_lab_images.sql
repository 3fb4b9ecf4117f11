-- Images a lab session made through its Docker endpoint (builds, commits).
-- Kept apart from labels, which the learner controls: when the session ends,
-- exactly these ids (and the session's own tags) are removed. No foreign key:
-- the rows must outlive a deleted session until its images are gone.
CREATE TABLE lab_images (
    session_id TEXT   NOT NULL,
    image_id   TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (session_id, image_id)
);
