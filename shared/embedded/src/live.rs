//! `Live`: one validated configuration and what the runtime makes from it
//! (the engine, the ingest router, the campaign calendar). Swapped whole on
//! a reload; the acceptor and the workers each hold the one they started
//! with.

use jiff::Timestamp;
use storeflow_core::{Config, Engine};
use storeflow_ingest::{EnvOverrides, IngestConfig, Router};

/// One validated configuration and everything made from it.
pub struct Live {
    pub engine: Engine,
    pub router: Router,
    /// Campaign starts: (instant, flow, segment).
    pub campaigns: Vec<(Timestamp, String, String)>,
}

impl Live {
    pub(crate) fn new(config: Config, env: &EnvOverrides) -> Self {
        let router = Router::new(IngestConfig::from_settings(&config.settings, env));
        let engine = Engine::new(config);
        let mut campaigns: Vec<_> = engine
            .campaigns()
            .into_iter()
            .map(|(f, s, t)| (t, f, s))
            .collect();
        campaigns.sort();
        Live {
            engine,
            router,
            campaigns,
        }
    }
}
