//! Reusable pieces of the interface.

pub mod check_list;
pub mod form_error;
pub mod forms;
pub mod lab_panel;
pub mod live;
pub mod sandbox_explorer;
