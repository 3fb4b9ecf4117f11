//! Graded exercises as the server runs them: the runners that build and run
//! submissions for real in the grading sandbox (`runner`), the service that
//! grades and stores attempts, and its JSON and UI adapters. The parsers
//! and checks themselves are the `drydock-grader` crate.

pub mod routes;
pub mod runner;
pub mod service;
pub mod ui;
