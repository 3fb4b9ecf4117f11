//! What learners submit, parsed the way Docker would read it: `docker run`
//! command lines and Compose services (both into a [`run_spec::RunSpec`]),
//! Dockerfiles, and the screen a Dockerfile passes before any build.

pub mod build;
pub mod compose;
pub mod container;
pub mod dockerfile;
pub mod lab_dockerfile;
pub mod run_command;
pub mod run_spec;
