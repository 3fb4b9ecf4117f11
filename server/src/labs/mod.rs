//! Lab sessions: from start to end (quotas, the queue, the warm pool, the
//! reaper, reconciliation after a restart) and the terminal bridge. The
//! containers themselves come from `docker/`.

pub mod docker;
pub mod preview;
pub mod routes;
pub mod service;
pub mod terminal;
pub mod ui;
