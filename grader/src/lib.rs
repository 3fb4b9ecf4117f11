//! Drydock's grading logic that needs no engine, database or web server:
//! the parsers of what learners submit (`input`), the check catalog and the
//! checks that read evidence (`checks`), the policy that turns a learner's
//! run request into the container the grading sandbox creates (`sandbox`),
//! and the reader of saved images (`layers`). The server's `grading` module
//! runs these against the real engine.

pub mod checks;
pub mod input;
pub mod layers;
pub mod sandbox;

/// How one check came out, before points are attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub passed: bool,
    /// What was found, naming what to change.
    pub message: String,
    /// What the grader saw.
    pub evidence: String,
}

impl Verdict {
    /// A verdict with `passed` as given.
    pub fn new(passed: bool, message: impl Into<String>, evidence: impl Into<String>) -> Self {
        Self {
            passed,
            message: message.into(),
            evidence: evidence.into(),
        }
    }

    /// A passed check.
    pub fn pass(message: impl Into<String>, evidence: impl Into<String>) -> Self {
        Self::new(true, message, evidence)
    }

    /// A failed check.
    pub fn fail(message: impl Into<String>, evidence: impl Into<String>) -> Self {
        Self::new(false, message, evidence)
    }
}

/// Cases of a parser property test: `default`, or `DRYDOCK_FUZZ_CASES`
/// when set (`make fuzz` runs them for ten minutes).
#[cfg(test)]
pub fn fuzz_cases(default: u32) -> u32 {
    std::env::var("DRYDOCK_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
