//! The Docker infrastructure every capability builds on: the engine
//! connection (bollard, and plain HTTP where bollard's typed API cannot say
//! what Drydock needs), lab image builds, the sandbox policy, the `drydock.*`
//! labels, the runtime choice and shell quoting. Like `db/`, it knows
//! nothing of labs, grading or content: they use it, it uses none of them
//! (only `config`).

pub mod engine;
pub mod http;
pub mod images;
pub mod labels;
pub mod policy;
pub mod proxy;
pub mod runtime;
pub mod shell;
