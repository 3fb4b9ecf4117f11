//! Which OCI runtime a sandbox runs under, decided once per server.

use tokio::sync::OnceCell;

use super::engine::{Engine, EngineError};
use crate::config::RuntimeChoice;

/// The gVisor runtime's name in the engine.
pub const GVISOR: &str = "runsc";

/// The configured choice, resolved against what the engine offers (once).
#[derive(Debug, Default)]
pub struct RuntimeSelection {
    resolved: OnceCell<Option<String>>,
}

impl RuntimeSelection {
    /// `Some("runsc")` for gVisor, `None` for the engine's default.
    pub async fn get(
        &self,
        choice: RuntimeChoice,
        engine: &Engine,
    ) -> Result<Option<String>, EngineError> {
        Ok(self
            .resolved
            .get_or_try_init(|| async {
                Ok::<_, EngineError>(match choice {
                    RuntimeChoice::Runsc => Some(GVISOR.to_string()),
                    RuntimeChoice::Runc => None,
                    RuntimeChoice::Auto => {
                        engine.offers_gvisor().await?.then(|| GVISOR.to_string())
                    }
                })
            })
            .await?
            .clone())
    }
}
