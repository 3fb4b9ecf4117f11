-- Accounts: every learner, guest or not, is a row here.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL,
    password_hash TEXT,
    email         TEXT,
    role          TEXT    NOT NULL CHECK (role IN ('guest', 'learner', 'instructor', 'admin')),
    created_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
