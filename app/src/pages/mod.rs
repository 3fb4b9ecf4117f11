//! One module per page.

pub mod admin_users;
pub mod coming_soon;
pub mod home;
pub mod login;
pub mod not_found;
pub mod profile;
pub mod register;
