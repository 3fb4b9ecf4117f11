//! Drydock's integration tests: one binary, one module per area, all against
//! the real application (port 0), a real Docker engine, real SQLite and
//! PostgreSQL databases and, for `browser`, a real Chromium.

mod common;

mod accounts;
mod attacks;
mod browser;
mod curriculum;
mod engine;
mod faults;
mod grading;
mod http;
mod lab_builds;
mod lab_docker;
mod labs;
mod lessons;
mod restart;
mod storage;
mod workshops;
