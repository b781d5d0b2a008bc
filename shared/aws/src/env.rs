//! A function's configuration from its environment, as
//! `infra/template.yaml` sets it; every missing or bad value is an error
//! that names the variable. Secrets come from SSM parameters whose names the
//! environment gives (`*_PARAM`), or, for local runs, straight from the
//! variables `storeflow serve` reads (`STOREFLOW_SHOPIFY_SECRETS`, …).

use anyhow::{Context, Result};
use std::collections::HashMap;
use storeflow_core::Config;
use storeflow_ingest::EnvOverrides;

/// Where the store configuration is when `STOREFLOW_CONFIG_DIR` is unset:
/// the template's configuration layer is unpacked under `/opt`.
pub const DEFAULT_CONFIG_DIR: &str = "/opt/storeflow";

/// A snapshot of the environment (or of a test's).
#[derive(Debug, Clone, Default)]
pub struct Env(pub HashMap<String, String>);

impl Env {
    pub fn from_process() -> Self {
        Env(std::env::vars().collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<String> {
        self.get(name).map(str::to_string).with_context(|| {
            format!(
                "environment variable {name} is not set (infra/template.yaml sets it for the \
                 deployed function; set it yourself to run the function elsewhere)"
            )
        })
    }

    /// A secret: the variable `direct` itself, or the SSM SecureString
    /// parameter named by `param`, or `None` when neither is set.
    pub async fn secret(
        &self,
        ssm: &aws_sdk_ssm::Client,
        direct: &str,
        param: &str,
    ) -> Result<Option<String>> {
        if let Some(v) = self.get(direct) {
            return Ok(Some(v.to_string()));
        }
        let Some(name) = self.get(param) else {
            return Ok(None);
        };
        match ssm
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
        {
            Ok(out) => Ok(out.parameter.and_then(|p| p.value)),
            // Not created: that source is not used (a store on Shopify
            // alone has no SHOPLINE secret); its deliveries are refused.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_parameter_not_found()) =>
            {
                tracing::warn!(
                    "SSM parameter {name} (from {param}) does not exist: not configured"
                );
                Ok(None)
            }
            Err(e) => Err(anyhow::anyhow!(
                "SSM parameter {name} (from {param}): {e:?}"
            )),
        }
    }

    /// The webhook secrets and write keys for ingest.
    pub async fn ingest_secrets(&self, ssm: &aws_sdk_ssm::Client) -> Result<EnvOverrides> {
        Ok(EnvOverrides {
            shopify_secrets: self
                .secret(
                    ssm,
                    "STOREFLOW_SHOPIFY_SECRETS",
                    "STOREFLOW_SHOPIFY_SECRETS_PARAM",
                )
                .await?,
            shopline_secrets: self
                .secret(
                    ssm,
                    "STOREFLOW_SHOPLINE_SECRETS",
                    "STOREFLOW_SHOPLINE_SECRETS_PARAM",
                )
                .await?,
            write_keys: self
                .secret(ssm, "STOREFLOW_WRITE_KEYS", "STOREFLOW_WRITE_KEYS_PARAM")
                .await?,
        })
    }

    /// The key that signs unsubscribe and preference links: the same in the
    /// functions that make links and the one that checks them.
    pub async fn link_secret(&self, ssm: &aws_sdk_ssm::Client) -> Result<Vec<u8>> {
        self.secret(
            ssm,
            "STOREFLOW_LINK_SECRET",
            "STOREFLOW_LINK_SIGNING_KEY_PARAM",
        )
        .await?
        .map(String::into_bytes)
        .context(
            "no link-signing key: set STOREFLOW_LINK_SIGNING_KEY_PARAM to an SSM parameter \
                 (or STOREFLOW_LINK_SECRET when running locally)",
        )
    }

    /// The store configuration from `STOREFLOW_CONFIG_DIR`, validated; the
    /// error names the file and field, as `storeflow check` does.
    pub fn store_config(&self, link_secret: Vec<u8>) -> Result<Config> {
        let dir = self
            .get("STOREFLOW_CONFIG_DIR")
            .unwrap_or(DEFAULT_CONFIG_DIR);
        let sources = storeflow_app::config_dir::read_config_dir(std::path::Path::new(dir))?;
        let mut config = Config::from_sources(sources, link_secret)
            .map_err(|e| anyhow::anyhow!("store configuration in {dir}:\n{e}"))?;
        // Deployed, links point at the feedback function's URL, known only
        // to the stack.
        if let Some(base) = self.get("STOREFLOW_LINKS_BASE_URL") {
            config.settings.store.links_base_url = base.to_string();
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_variable_is_named() {
        let e = Env::default().require("STOREFLOW_TABLE").unwrap_err();
        assert!(e.to_string().contains("STOREFLOW_TABLE"), "{e}");
    }
}
