//! Reusable pieces of the interface.

pub mod form_error;
pub mod sandbox_explorer;
