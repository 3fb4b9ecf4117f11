//! Lab containers: the Docker engine connection, the sandbox policy every
//! container gets, and the lab base images built from `content/images/`.

pub mod engine;
pub mod images;
pub mod policy;
