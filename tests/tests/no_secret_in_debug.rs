//! Nothing that holds a secret prints it: every configuration value a
//! runtime might log with `{:?}` shows that a secret is there, not what it
//! is.

use storeflow_ingest::{EnvOverrides, IngestConfig, Secrets};

const SECRETS: [&str; 5] = [
    "shpss_top-secret-1",
    "shopline-top-secret-2",
    "write-key-top-secret-3",
    "smtp-password-top-secret-4",
    "admin-token-top-secret-5",
];

fn assert_clean(what: &str, shown: String) {
    for s in SECRETS {
        assert!(!shown.contains(s), "{what} shows {s}: {shown}");
    }
}

#[test]
fn configuration_values_never_print_their_secrets() {
    let mut ingest =
        IngestConfig::new(storeflow_core::model::ids::ShopId::parse("s.myshopify.com").unwrap());
    ingest.shopify_secrets = Secrets::new([SECRETS[0]]);
    ingest.shopline_secrets = Secrets::new([SECRETS[1]]);
    ingest.write_keys = vec![SECRETS[2].to_string()];
    assert_clean("IngestConfig", format!("{ingest:?} {ingest:#?}"));

    let env = EnvOverrides {
        shopify_secrets: Some(SECRETS[0].into()),
        shopline_secrets: Some(SECRETS[1].into()),
        write_keys: Some(SECRETS[2].into()),
    };
    assert_clean("EnvOverrides", format!("{env:?}"));

    let smtp = storeflow_channels::SmtpSettings {
        url: "smtps://mail.example.com:465".into(),
        credentials: Some(("mailer".into(), SECRETS[3].into())),
        ca_pem: None,
    };
    let shown = format!("{smtp:?}");
    assert_clean("SmtpSettings", shown.clone());
    assert!(shown.contains("mailer"), "the user name helps: {shown}");

    let admin = storeflow_app::admin::AdminTokens::parse(Some(SECRETS[4])).unwrap();
    assert_clean("AdminTokens", format!("{admin:?}"));
}
