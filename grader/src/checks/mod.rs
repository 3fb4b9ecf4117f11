//! The check catalog and the checks: runtime checks read a container's
//! inspect and probes, image checks a Dockerfile and the image it built;
//! the Dockerfile lints and the secret detectors they share.

pub mod catalog;
pub mod image;
pub mod lint;
pub mod live;
pub mod run;
pub mod secrets;
