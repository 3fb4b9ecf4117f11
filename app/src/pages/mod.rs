//! One module per page.

pub mod admin_users;
pub mod exercise;
pub mod exercises;
pub mod home;
pub mod lab;
pub mod labs;
pub mod lesson;
pub mod lessons;
pub mod login;
pub mod not_found;
pub mod profile;
pub mod register;
pub mod search;
pub mod workshop;
pub mod workshops;
