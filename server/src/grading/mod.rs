//! Graded exercises: the check catalog, the parsers for what learners
//! submit, the runners that build and run it for real, and the results.

pub mod catalog;
pub mod compose;
pub mod dockerfile;
pub mod dockerfile_build;
pub mod dockerfile_lint;
pub mod image_checks;
pub mod image_layers;
pub mod lab_checks;
pub mod routes;
pub mod run_checks;
pub mod run_command;
pub mod run_config;
pub mod run_sandbox;
pub mod run_spec;
pub mod secrets;
pub mod service;
pub mod ui;

/// Cases of a parser property test: `default`, or `DRYDOCK_FUZZ_CASES`
/// when set (`make fuzz` runs them for ten minutes).
#[cfg(test)]
pub fn fuzz_cases(default: u32) -> u32 {
    std::env::var("DRYDOCK_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Label on every container, volume and image the grader creates.
pub const GRADING_LABEL: &str = "drydock.grading";

/// How one check came out, before points are attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub passed: bool,
    /// What was found, naming what to change.
    pub message: String,
    /// What the grader saw.
    pub evidence: String,
}
