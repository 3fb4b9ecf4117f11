//! The Docker infrastructure every capability builds on: plain HTTP to the
//! engine (for what bollard's typed API cannot express). Like `db/`, it
//! knows nothing of labs, grading or content.

pub mod http;
