//! Instructor-led workshops: the plan, the roster, a live dashboard,
//! announcements, terminal shadowing and the gradebook.

pub mod routes;
pub mod service;
pub mod ui;
