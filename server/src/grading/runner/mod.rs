//! Running submissions for real: a run configuration in the grading
//! sandbox, a Dockerfile through the sandboxed builder, and lab-state checks
//! in a learner's own lab container.

pub mod build;
pub mod lab;
pub mod live;
pub mod run;
