//! One contract, every backend: the storage ports' conformance suite, run
//! against the in-memory reference, SQLite and DynamoDB (DynamoDB Local,
//! started by the test command). Same results, same conflicts, same
//! idempotency.

use jiff::Timestamp;
use storeflow_app::memory::Memory;
use storeflow_app::ports::{Commit, Customers, Models, Shops, StoreError};
use storeflow_core::engine::shop::ShopState;
use storeflow_core::model::decision::Message;
use storeflow_core::model::ids::{ProfileId, ShopId};
use storeflow_core::template::Rendered;
use storeflow_core::CustomerState;
use storeflow_sqlite::Sqlite;
use storeflow_tests::ts;

fn shop() -> ShopId {
    ShopId::parse("conformance.myshopify.com").unwrap()
}

fn state(id: &str, marker: &str) -> CustomerState {
    let mut s = CustomerState::new(
        ProfileId::parse(id).unwrap(),
        shop(),
        ts("2026-01-01T00:00:00Z"),
    );
    // Something visible to tell writes apart.
    s.profile.tags.insert(
        marker.to_string(),
        storeflow_core::customer::profile::Stamped {
            value: true,
            at: ts("2026-01-01T00:00:00Z"),
        },
    );
    s
}

/// A state whose ledger holds the ids of the messages it made, as the
/// engine's states do.
fn sent(mut s: CustomerState, ids: &[&str]) -> CustomerState {
    for id in ids {
        s.note_in_ledger(id, ts("2026-01-02T00:00:00Z"));
    }
    s
}

fn message(id: &str) -> Message {
    Message {
        id: id.into(),
        channel: storeflow_core::model::event::Channel::Email,
        to: "ann@example.com".into(),
        template: "welcome_1".into(),
        marketing: true,
        priority: "welcome".into(),
        content: Rendered::default(),
        unsubscribe_url: None,
        from: None,
        flow: "welcome".into(),
        version: 1,
        step: "s1".into(),
        variant: None,
    }
}

fn commit<'a>(
    st: &'a CustomerState,
    expected: Option<u64>,
    keys: &'a [String],
    absorbed: &'a [(ProfileId, u64)],
    messages: &'a [Message],
    wake: Option<Timestamp>,
) -> Commit<'a> {
    Commit {
        now: ts("2026-01-02T00:00:00Z"),
        state: st.clone(),
        expected,
        keys,
        absorbed,
        wake,
        messages,
        decisions: &[],
    }
}

async fn tags<S: Customers>(s: &S, id: &str) -> Option<(Vec<String>, u64)> {
    s.load(&shop(), &ProfileId::parse(id).unwrap())
        .await
        .unwrap()
        .map(|l| (l.state.profile.tags.keys().cloned().collect(), l.version))
}

fn conflict(r: Result<(), StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

/// How the suite reads the ids of the messages a backend holds.
trait Outbox {
    async fn ids(&self) -> Vec<String>;
}

impl Outbox for Memory {
    async fn ids(&self) -> Vec<String> {
        self.with(|i| i.outbox.keys().cloned().collect())
    }
}

impl Outbox for Sqlite {
    async fn ids(&self) -> Vec<String> {
        self.pending(100, jiff::Timestamp::MAX)
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect()
    }
}

/// DynamoDB: a commit hands its messages to the send queue before it writes
/// (`storeflow_aws::queues::Handoff`); the messages the send function would
/// send are those whose commit landed.
impl Outbox for storeflow_aws::Table {
    async fn ids(&self) -> Vec<String> {
        let q = self.sends.as_ref().expect("a send queue");
        let got = q
            .sqs
            .receive_message()
            .queue_url(&q.url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
        let mut ids = Vec::new();
        for m in got.messages() {
            let h: storeflow_aws::queues::Handoff =
                serde_json::from_str(m.body().unwrap()).unwrap();
            let verdict = self.handoff_verdict(&h, h.at).await.unwrap();
            if verdict == storeflow_aws::customers::Verdict::Send && !ids.contains(&h.message.id) {
                ids.push(h.message.id);
            }
        }
        ids
    }
}

/// The suite.
async fn suite<S: Customers + Shops + Outbox + Models>(s: S) {
    // Keys as the engine makes them (`identity::keys`).
    let k_email = vec![format!("{}|email|ann@example.com", shop())];
    let k_anon = vec![format!("{}|anon|a1", shop())];

    // Create: expected None. A second creator of the same profile loses.
    let a1 = sent(state("p_ann", "first"), &["m1"]);
    s.commit(commit(&a1, None, &k_email, &[], &[message("m1")], None))
        .await
        .unwrap();
    let again = state("p_ann", "rival");
    assert!(conflict(
        s.commit(commit(&again, None, &k_email, &[], &[], None))
            .await
    ));
    assert_eq!(tags(&s, "p_ann").await, Some((vec!["first".into()], 1)));
    assert_eq!(
        s.find(&k_email).await.unwrap(),
        vec![Some(ProfileId::parse("p_ann").unwrap())]
    );

    // Update on the version read; a stale writer loses and writes nothing.
    let a2 = sent(state("p_ann", "second"), &["m1", "m2"]);
    s.commit(commit(&a2, Some(1), &k_email, &[], &[message("m2")], None))
        .await
        .unwrap();
    let stale = sent(state("p_ann", "stale"), &["m1", "m-stale"]);
    let stale_keys = vec!["conformance|phone|+15550000000".to_string()];
    let r = s
        .commit(commit(
            &stale,
            Some(1),
            &stale_keys,
            &[],
            &[message("m-stale")],
            None,
        ))
        .await;
    assert!(
        conflict(r),
        "a commit on version 1 after version 2 must fail"
    );
    assert_eq!(tags(&s, "p_ann").await, Some((vec!["second".into()], 2)));
    assert_eq!(
        s.find(&stale_keys).await.unwrap(),
        vec![None],
        "no key from a lost commit"
    );
    assert!(
        !s.ids().await.contains(&"m-stale".to_string()),
        "no message from a lost commit"
    );

    // The outbox is keyed by message id: the same message twice is one.
    let a3 = sent(state("p_ann", "third"), &["m1", "m2"]);
    s.commit(commit(&a3, Some(2), &k_email, &[], &[message("m2")], None))
        .await
        .unwrap();
    let mut ids = s.ids().await;
    ids.sort();
    assert_eq!(ids, vec!["m1".to_string(), "m2".to_string()]);

    // Merge: the anonymous profile is absorbed (removed), its keys move.
    // The anonymous profile made a message just before the merge: it is
    // still delivered (its id is in the survivor's ledger, which took the
    // absorbed one's).
    let anon = sent(state("p_anon", "browsing"), &["m-anon"]);
    s.commit(commit(
        &anon,
        None,
        &k_anon,
        &[],
        &[message("m-anon")],
        None,
    ))
    .await
    .unwrap();
    // Absorbing at a stale version fails, and nothing moves.
    let merged = sent(state("p_ann", "merged"), &["m1", "m2", "m-anon"]);
    let both: Vec<String> = k_email.iter().chain(&k_anon).cloned().collect();
    let stale_merge = [(ProfileId::parse("p_anon").unwrap(), 7)];
    assert!(conflict(
        s.commit(commit(&merged, Some(3), &both, &stale_merge, &[], None))
            .await
    ));
    assert!(tags(&s, "p_anon").await.is_some());
    let ok_merge = [(ProfileId::parse("p_anon").unwrap(), 1)];
    s.commit(commit(&merged, Some(3), &both, &ok_merge, &[], None))
        .await
        .unwrap();
    assert_eq!(
        tags(&s, "p_anon").await,
        None,
        "the absorbed profile is gone"
    );
    assert!(s.ids().await.contains(&"m-anon".to_string()));
    assert_eq!(
        s.find(&k_anon).await.unwrap(),
        vec![Some(ProfileId::parse("p_ann").unwrap())],
        "its keys point at the survivor"
    );

    // A key owned by another profile that is not absorbed cannot be
    // claimed: two first events for one email raced and the other won.
    let bob = sent(state("p_bob", "bob"), &["m-bob"]);
    let r = s
        .commit(commit(&bob, None, &k_email, &[], &[message("m-bob")], None))
        .await;
    assert!(
        conflict(r),
        "claiming ann's key for a new profile must fail"
    );
    assert_eq!(tags(&s, "p_bob").await, None, "nothing of the lost commit");
    assert_eq!(
        s.find(&k_email).await.unwrap(),
        vec![Some(ProfileId::parse("p_ann").unwrap())]
    );
    assert!(!s.ids().await.contains(&"m-bob".to_string()));

    // The wake-up is read back with the state.
    let wake = ts("2026-01-03T10:00:00Z");
    let a5 = state("p_ann", "woken");
    s.commit(commit(&a5, Some(4), &[], &[], &[], Some(wake)))
        .await
        .unwrap();
    let l = s
        .load(&shop(), &ProfileId::parse("p_ann").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((l.version, l.wake), (5, Some(wake)));

    // Shops: the same version rule.
    let st = ShopState::default();
    s.commit_shop(&shop(), &st, None, None).await.unwrap();
    assert!(conflict(s.commit_shop(&shop(), &st, None, None).await));
    s.commit_shop(&shop(), &st, Some(1), None).await.unwrap();
    assert!(conflict(s.commit_shop(&shop(), &st, Some(1), None).await));
    assert_eq!(s.load_shop(&shop()).await.unwrap().map(|(_, v)| v), Some(2));

    models(&s).await;
}

/// Prediction models: the order histories a refit reads are the
/// customers' own orders (net of refunds, one entry per UTC day, none for
/// a customer without an order), and a model saved is the one loaded.
async fn models<S: Customers + Models>(s: &S) {
    let mut bea = state("p_bea", "orders");
    for (id, at, total, refunded) in [
        ("o1", "2026-01-05T23:30:00Z", 40.0, 0.0),
        ("o2", "2026-01-05T08:00:00Z", 10.0, 0.0),
        ("o3", "2026-02-01T10:00:00Z", 60.0, 15.0),
    ] {
        let rec = bea.profile.orders.entry(id.into()).or_default();
        rec.placed_at = Some(ts(at));
        rec.total = total;
        if refunded > 0.0 {
            rec.refunded.insert(
                "r1".into(),
                storeflow_core::customer::profile::Stamped {
                    value: refunded,
                    at: ts(at),
                },
            );
        }
    }
    let keys = vec![format!("{}|email|bea@example.com", shop())];
    s.commit(commit(&bea, None, &keys, &[], &[], None))
        .await
        .unwrap();
    let all = s.order_histories().await.unwrap();
    // Ann (the suite's other customer) has no order: not there.
    assert_eq!(all.len(), 1, "{all:?}");
    let (got_shop, got_id, h) = &all[0];
    assert_eq!((got_shop, got_id.as_str()), (&shop(), "p_bea"));
    let d = |s: &str| s.parse::<jiff::civil::Date>().unwrap();
    assert_eq!(
        h.days,
        vec![(d("2026-01-05"), 50.0), (d("2026-02-01"), 45.0)]
    );

    assert_eq!(s.load_model(&shop()).await.unwrap(), None);
    let fit = |as_of: &str| {
        storeflow_core::predict::forecast::fit(
            &[("p_bea", h.clone())],
            &storeflow_core::predict::forecast::Options::new(d(as_of), 365, 0.1),
        )
    };
    let first = fit("2026-03-01");
    s.save_model(&shop(), &first).await.unwrap();
    assert_eq!(s.load_model(&shop()).await.unwrap(), Some(first));
    let second = fit("2026-03-02");
    s.save_model(&shop(), &second).await.unwrap();
    assert_eq!(s.load_model(&shop()).await.unwrap(), Some(second));
}

#[tokio::test]
async fn memory_conforms() {
    suite(Memory::new()).await;
}

#[tokio::test]
async fn sqlite_conforms() {
    suite(Sqlite::in_memory().unwrap()).await;
}

/// DynamoDB Local, on a table made from `infra/template.yaml`.
#[tokio::test]
async fn dynamodb_conforms() {
    let config = storeflow_tests::aws::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let template = storeflow_tests::template::Template::load();
    let name = storeflow_tests::aws::create_table(&client, &template, "Table").await;
    let sends = storeflow_aws::queues::SendQueue {
        sqs: aws_sdk_sqs::Client::new(&config),
        url: storeflow_tests::aws::create_queue(
            &aws_sdk_sqs::Client::new(&config),
            &template,
            "SendQueue",
        )
        .await
        .url,
        delay_seconds: 0,
    };
    suite(storeflow_aws::Table::new(client, name).handing_over_to(sends)).await;
}
