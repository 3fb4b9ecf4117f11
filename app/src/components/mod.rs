//! Reusable pieces of the interface.

pub mod sandbox_explorer;
