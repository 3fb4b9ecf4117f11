//! Learning from lessons: the catalog with progress, lesson pages, quiz
//! grading on the server, completion and search.

pub mod page_cache;
pub mod routes;
pub mod service;
pub mod ui;
