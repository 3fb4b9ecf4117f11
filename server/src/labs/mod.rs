//! Lab containers: the Docker engine connection, the sandbox policy every
//! container gets, the lab base images built from `content/images/`, lab
//! sessions from start to end, and the terminal bridge.

pub mod engine;
pub mod images;
pub mod policy;
pub mod routes;
pub mod service;
pub mod terminal;
pub mod ui;
