//! Logging set-up: `tracing` with an env filter (`RUST_LOG` wins over the
//! configured default).

use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber once; later calls are ignored.
pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = fmt().with_env_filter(filter).with_target(true).try_init();
}
