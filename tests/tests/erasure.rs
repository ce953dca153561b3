//! Personal data that can be erased (issue 6): names, phones and emails of clients,
//! their contacts and leads are stored encrypted under a key per data subject;
//! `POST /clients/{id}/erase` and `POST /leads/{id}/erase` destroy the key and append
//! an erasure event, after which every answer shows `[erased]` (rebuilt read models
//! included) while the log stays append-only and verifies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::{Method, StatusCode};
use crm_api::auth::create_token;
use crm_tests::scenario::manager;
use crm_tests::{Answer, TestApp, ADMIN_TOKEN};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// Every personal value the scenario sends, none of them anywhere else.
const CLIENT_NAME: &str = "Zoryana Kovalchuk";
const CONTACT_NAME: &str = "Bohdan Melnyk";
const CONTACT_PHONE: &str = "+380 67 555 01 23";
const CONTACT_EMAIL: &str = "bohdan.melnyk@example.org";
const SECOND_CONTACT: &str = "Solomiia Hnatiuk";
const CONVERTED_NAME: &str = "Yaroslav Dovzhenko";
const CONVERTED_PHONE: &str = "+380 50 777 88 99";
const CONVERTED_EMAIL: &str = "yaroslav.d@example.net";
const LEAD_NAME: &str = "Marta Lysenko";
const LEAD_PHONE: &str = "+380 93 101 20 30";
const LEAD_EMAIL: &str = "marta.lysenko@example.com";

const SECRETS: [&str; 11] = [
    CLIENT_NAME,
    CONTACT_NAME,
    CONTACT_PHONE,
    CONTACT_EMAIL,
    SECOND_CONTACT,
    CONVERTED_NAME,
    CONVERTED_PHONE,
    CONVERTED_EMAIL,
    LEAD_NAME,
    LEAD_PHONE,
    LEAD_EMAIL,
];

/// The scenario's entities.
struct Company {
    client: Uuid,
    converted_lead: Uuid,
    converted_client: Uuid,
    lead: Uuid,
    last_position: i64,
}

fn ok(answer: &Answer, what: &str) -> Value {
    assert!(answer.status.is_success(), "{what}: {answer:?}");
    answer.body.clone()
}

fn id_of(body: &Value) -> Uuid {
    body["id"].as_str().unwrap().parse().unwrap()
}

async fn company(app: &TestApp) -> Company {
    let olena = manager(app, "Olena").await;
    let client = ok(
        &app.post(
            "/clients",
            &json!({"name": CLIENT_NAME, "kind": "person", "region": "Kyiv", "manager_id": olena,
                "contacts": [
                    {"name": CONTACT_NAME, "phone": CONTACT_PHONE, "email": CONTACT_EMAIL},
                    {"name": SECOND_CONTACT}]}),
        )
        .await,
        "register",
    );
    let pipeline = ok(
        &app.post(
            "/pipelines",
            &json!({"name": "Retail", "stages": [{"name": "New", "probability": 0.2}]}),
        )
        .await,
        "pipeline",
    );
    let converted = ok(
        &app.post(
            "/leads",
            &json!({"source": "site", "name": CONVERTED_NAME, "phone": CONVERTED_PHONE,
                "email": CONVERTED_EMAIL, "manager_id": olena}),
        )
        .await,
        "capture",
    );
    let converted_lead = id_of(&converted);
    ok(
        &app.post(
            &format!("/leads/{converted_lead}/convert"),
            &json!({"deal": {"pipeline_id": id_of(&pipeline), "title": "Sofa", "amount": 400_000}}),
        )
        .await,
        "convert",
    );
    let lead_events = app
        .get(&format!("/streams/lead-{converted_lead}/events"))
        .await;
    let converted_client: Uuid = lead_events.body["events"][2]["data"]["client_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Captured two hours ago and never answered: an overdue lead.
    let lead = ok(
        &app.post(
            "/leads",
            &json!({"source": "phone", "name": LEAD_NAME, "phone": LEAD_PHONE, "email": LEAD_EMAIL,
                "occurred_at": chrono::Utc::now() - chrono::Duration::hours(2)}),
        )
        .await,
        "capture",
    );
    Company {
        client: id_of(&client),
        converted_lead,
        converted_client,
        lead: id_of(&lead),
        last_position: lead["position"].as_i64().unwrap(),
    }
}

/// Every event of the feed through `GET /events`, page after page.
async fn whole_feed(app: &TestApp) -> Vec<Value> {
    let (mut events, mut cursor) = (Vec::new(), String::new());
    loop {
        let page = ok(
            &app.get(&format!("/events?limit=7&cursor={cursor}")).await,
            "feed",
        );
        let got = page["events"].as_array().unwrap().clone();
        if got.is_empty() {
            return events;
        }
        events.extend(got);
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
    }
}

/// Every answer that can show personal data, as text, by what was asked.
async fn answers(app: &TestApp, c: &Company, min_position: i64) -> Vec<(String, String)> {
    let mut paths = vec![
        format!("/clients/{}?min_position={min_position}", c.client),
        format!(
            "/clients/{}?min_position={min_position}",
            c.converted_client
        ),
        format!(
            "/clients/{}?as_of={}",
            c.client,
            urlencode(&chrono::Utc::now().to_rfc3339())
        ),
        format!("/clients?min_position={min_position}"),
        format!("/clients/{}/timeline", c.client),
        format!("/clients/{}/timeline", c.converted_client),
        format!("/reports/overdue/leads?min_position={min_position}"),
        "/export/events?format=ndjson".to_owned(),
        "/export/events?format=csv".to_owned(),
    ];
    for stream in [
        format!("client-{}", c.client),
        format!("client-{}", c.converted_client),
        format!("lead-{}", c.converted_lead),
        format!("lead-{}", c.lead),
    ] {
        paths.push(format!("/streams/{stream}/events"));
        paths.push(format!("/streams/{stream}/state"));
    }
    let mut out = Vec::new();
    for path in paths {
        let body = ok(&app.get(&path).await, &path);
        let text = match body {
            Value::String(text) => text,
            other => other.to_string(),
        };
        out.push((path, text));
    }
    out.push((
        "/events".to_owned(),
        Value::Array(whole_feed(app).await).to_string(),
    ));
    out
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

/// The stored payloads, read with plain SQL.
async fn stored_payloads(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("SELECT data::text FROM eventlog.events ORDER BY position")
        .fetch_all(app.log.pool())
        .await
        .unwrap()
}

async fn card(app: &TestApp, id: Uuid, min_position: i64) -> Value {
    ok(
        &app.get(&format!("/clients/{id}?min_position={min_position}"))
            .await,
        "card",
    )
}

#[sqlx::test(migrations = false)]
async fn erased_personal_data_shows_as_erased_everywhere_and_the_log_still_verifies(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await.unwrap();
    let projectors = app.start_projectors();
    let c = company(&app).await;
    let openapi = app.get("/openapi.json").await.body;
    for path in ["/clients/{id}/erase", "/leads/{id}/erase"] {
        assert!(
            openapi["paths"][path]["post"].is_object(),
            "{path} documented"
        );
    }

    // Stored encrypted: no personal value in any payload, each one a `pii:v1:` string
    // bound to its subject.
    let stored = stored_payloads(&app).await;
    for secret in SECRETS {
        assert!(
            stored.iter().all(|p| !p.contains(secret)),
            "{secret} stored in clear"
        );
    }
    let registered: Value =
        sqlx::query_scalar("SELECT data FROM eventlog.events WHERE stream_id = $1 AND version = 1")
            .bind(format!("client-{}", c.client))
            .fetch_one(&pool)
            .await
            .unwrap();
    let prefix = format!("pii:v1:{}:", c.client.simple());
    for value in [
        &registered["name"],
        &registered["contacts"][0]["name"],
        &registered["contacts"][0]["phone"],
        &registered["contacts"][0]["email"],
        &registered["contacts"][1]["name"],
    ] {
        assert!(value.as_str().unwrap().starts_with(&prefix), "{value}");
    }
    assert_eq!(
        registered["region"], "Kyiv",
        "what is not personal stays clear"
    );
    // The conversion copied the lead's data encrypted under the new client's key.
    let copied: Value =
        sqlx::query_scalar("SELECT data FROM eventlog.events WHERE stream_id = $1 AND version = 1")
            .bind(format!("client-{}", c.converted_client))
            .fetch_one(&pool)
            .await
            .unwrap();
    let client_prefix = format!("pii:v1:{}:", c.converted_client.simple());
    assert!(copied["name"].as_str().unwrap().starts_with(&client_prefix));
    assert!(copied["contacts"][0]["email"]
        .as_str()
        .unwrap()
        .starts_with(&client_prefix));
    let keys: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM vault.subject_keys WHERE key IS NOT NULL AND subject_id = ANY($1)",
    )
    .bind(vec![c.client, c.converted_client, c.converted_lead, c.lead])
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(keys, 4, "one key per data subject");

    // Before the erasure every answer shows the plaintext.
    let before = answers(&app, &c, c.last_position).await;
    let seen = |answers: &[(String, String)], secret: &str| {
        answers.iter().any(|(_, text)| text.contains(secret))
    };
    for secret in SECRETS {
        assert!(seen(&before, secret), "{secret} shown nowhere");
    }
    let shown = card(&app, c.client, c.last_position).await;
    assert_eq!(shown["name"], CLIENT_NAME);
    assert_eq!(
        shown["contacts"],
        json!([{"name": CONTACT_NAME, "phone": CONTACT_PHONE, "email": CONTACT_EMAIL},
               {"name": SECOND_CONTACT}])
    );
    assert_eq!(shown["erased_at"], Value::Null);
    let converted_card = card(&app, c.converted_client, c.last_position).await;
    assert_eq!(converted_card["name"], CONVERTED_NAME);

    // Only admin and director tokens erase; others get 403 and nothing is appended.
    let events_before = recorded_facts(&app).await;
    let olena = manager(&app, "Taras").await;
    let events_before = events_before + 1;
    for (role, manager_id) in [
        ("manager", Some(olena)),
        ("analyst", None),
        ("auditor", None),
        ("head", Some(olena)),
    ] {
        let token = create_token(&pool, manager_id, role, None).await.unwrap();
        for path in [
            format!("/clients/{}/erase", c.client),
            format!("/leads/{}/erase", c.lead),
        ] {
            let answer = app
                .send(Method::POST, &path, Some(&token), Some(&json!({})), &[])
                .await;
            assert_eq!(
                (answer.status, answer.code()),
                (StatusCode::FORBIDDEN, "forbidden"),
                "{role} {path}: {:?}",
                answer.body
            );
            assert_eq!(answer.headers["content-type"], "application/problem+json");
        }
    }
    assert_eq!(recorded_facts(&app).await, events_before);
    // Unknown ids: 404.
    for path in [
        format!("/clients/{}/erase", Uuid::new_v4()),
        format!("/leads/{}/erase", Uuid::new_v4()),
    ] {
        let answer = app.post(&path, &json!({})).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(recorded_facts(&app).await, events_before);

    // Erase: the client, the client registered from a lead (and so that lead), and a
    // lead on its own, as a director.
    let director = create_token(&pool, None, "director", None).await.unwrap();
    let mut last = 0;
    for (path, stream) in [
        (
            format!("/clients/{}/erase", c.client),
            format!("client-{}", c.client),
        ),
        (
            format!("/clients/{}/erase", c.converted_client),
            format!("client-{}", c.converted_client),
        ),
        (
            format!("/leads/{}/erase", c.lead),
            format!("lead-{}", c.lead),
        ),
    ] {
        let answer = app
            .send(
                Method::POST,
                &path,
                Some(&director),
                Some(&json!({"reason": "asked by the data subject"})),
                &[],
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {:?}", answer.body);
        assert_eq!(answer.body["stream"], stream);
        last = answer.body["position"].as_i64().unwrap();
    }
    let erasures: Vec<(String, String)> = sqlx::query_as(
        "SELECT event_type, stream_id FROM eventlog.events WHERE position > \
            (SELECT max(position) FROM eventlog.events WHERE event_type = 'ManagerRegistered') \
          ORDER BY position",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut erasures_sorted = erasures.clone();
    erasures_sorted.sort();
    let mut expected = vec![
        ("ClientErased".to_owned(), format!("client-{}", c.client)),
        (
            "ClientErased".to_owned(),
            format!("client-{}", c.converted_client),
        ),
        (
            "LeadErased".to_owned(),
            format!("lead-{}", c.converted_lead),
        ),
        ("LeadErased".to_owned(), format!("lead-{}", c.lead)),
    ];
    expected.sort();
    assert_eq!(erasures_sorted, expected);
    assert_eq!(recorded_facts(&app).await, events_before + 4);

    // The keys are destroyed (tombstones with erased_at), the stored events unchanged.
    let destroyed: Vec<(Uuid, bool, bool)> = sqlx::query_as(
        "SELECT subject_id, key IS NULL, erased_at IS NOT NULL FROM vault.subject_keys \
          WHERE subject_id = ANY($1) ORDER BY subject_id",
    )
    .bind(vec![c.client, c.converted_client, c.converted_lead, c.lead])
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(destroyed.len(), 4);
    assert!(
        destroyed.iter().all(|(_, gone, at)| *gone && *at),
        "{destroyed:?}"
    );
    let after_stored = stored_payloads(&app).await;
    assert_eq!(
        after_stored[..stored.len()],
        stored[..],
        "the log is unchanged"
    );
    let verified = ok(&app.get("/audit/verify").await, "verify");
    assert_eq!(verified["ok"], true, "{verified}");

    // Every answer now: no plaintext anywhere, the marker instead.
    let after = answers(&app, &c, last).await;
    for (path, text) in &after {
        for secret in SECRETS {
            assert!(
                !text.contains(secret),
                "{path} still shows {secret}: {text}"
            );
        }
    }
    assert_eq!(after.len(), before.len());
    for (path, text) in &after {
        if !path.starts_with("/clients?") {
            assert!(text.contains("[erased]"), "{path}: {text}");
        }
    }
    let erased = card(&app, c.client, last).await;
    assert_eq!(erased["name"], "[erased]");
    assert_eq!(
        erased["contacts"],
        json!([{"name": "[erased]", "phone": "[erased]", "email": "[erased]"},
               {"name": "[erased]"}])
    );
    assert_eq!(erased["region"], "Kyiv");
    assert!(erased["erased_at"].is_string(), "{erased}");
    let overdue = ok(
        &app.get(&format!("/reports/overdue/leads?min_position={last}"))
            .await,
        "overdue",
    );
    let waiting = overdue["leads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["lead_id"] == c.lead.to_string())
        .unwrap_or_else(|| panic!("{overdue}"))
        .clone();
    assert_eq!(waiting["name"], "[erased]");

    // Erasing again appends nothing; an erased client takes no new personal data.
    let again = app
        .post(&format!("/clients/{}/erase", c.client), &json!({}))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(again.body["position"], 0);
    assert_eq!(recorded_facts(&app).await, events_before + 4);
    let renamed = app
        .send(
            Method::PATCH,
            &format!("/clients/{}", c.client),
            Some(ADMIN_TOKEN),
            Some(&json!({"name": "Zoryana K."})),
            &[],
        )
        .await;
    assert_eq!(
        (renamed.status, renamed.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "subject_erased"),
        "{:?}",
        renamed.body
    );
    let moved = app
        .send(
            Method::PATCH,
            &format!("/clients/{}", c.client),
            Some(ADMIN_TOKEN),
            Some(&json!({"region": "Lviv"})),
            &[],
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    let last = moved.body["position"].as_i64().unwrap();

    // Rebuilt from the log, the read models still show the data erased: the stored
    // values no longer decrypt.
    for name in ["clients", "leads"] {
        let answer = app
            .send(
                Method::POST,
                &format!("/projections/{name}/rebuild"),
                Some(ADMIN_TOKEN),
                None,
                &[],
            )
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.body);
        app.wait_rebuilt(name).await;
    }
    let rebuilt = card(&app, c.client, last).await;
    assert_eq!(rebuilt["name"], "[erased]");
    assert_eq!(rebuilt["contacts"], erased["contacts"]);
    assert_eq!(rebuilt["region"], "Lviv");
    assert_eq!(rebuilt["erased_at"], erased["erased_at"]);
    let rebuilt_converted = card(&app, c.converted_client, last).await;
    assert_eq!(rebuilt_converted["name"], "[erased]");
    let rows = app.table_rows(&["client_cards", "leads"]).await.join("\n");
    for secret in SECRETS {
        assert!(!rows.contains(secret), "rebuilt read models hold {secret}");
    }
    assert!(rows.contains("[erased]"));
    let after_rebuild = answers(&app, &c, last).await;
    for (path, text) in &after_rebuild {
        for secret in SECRETS {
            assert!(
                !text.contains(secret),
                "{path} shows {secret} after the rebuild"
            );
        }
    }
    assert_eq!(ok(&app.get("/audit/verify").await, "verify")["ok"], true);

    projectors.shutdown().await;
    app.log.close().await;
}

#[sqlx::test(migrations = false)]
async fn a_log_written_before_encryption_still_reads_and_an_erased_lead_converts_only_into_a_named_client(
    pool: PgPool,
) {
    let app = TestApp::new(pool.clone()).await.unwrap();
    let olena = manager(&app, "Olena").await;
    // A lead stored in clear, as before this change: it reads as stored.
    let old = Uuid::new_v4();
    app.log
        .append(
            &format!("lead-{old}"),
            crm_eventlog::ExpectedVersion::NoStream,
            vec![crm_eventlog::NewEvent::new(
                "LeadCaptured",
                json!({"lead_id": old, "source": "site", "name": "Old Plain",
                       "received_at": "2026-01-01T00:00:00Z"}),
            )],
        )
        .await
        .unwrap();
    let state = ok(
        &app.get(&format!("/streams/lead-{old}/state")).await,
        "state",
    );
    assert_eq!(state["state"]["name"], "Old Plain", "{state}");
    ok(
        &app.post(
            &format!("/leads/{old}/assign"),
            &json!({"manager_id": olena}),
        )
        .await,
        "assign",
    );
    // Erased, it reads erased (it was never encrypted: its stored bytes keep the
    // name, as docs/operations.md says), and no client is registered from it.
    ok(
        &app.post(&format!("/leads/{old}/erase"), &json!({})).await,
        "erase",
    );
    let state = ok(
        &app.get(&format!("/streams/lead-{old}/state")).await,
        "state",
    );
    assert_eq!(state["state"]["name"], "[erased]");
    let pipeline = ok(
        &app.post(
            "/pipelines",
            &json!({"name": "Retail", "stages": [{"name": "New", "probability": 0.2}]}),
        )
        .await,
        "pipeline",
    );
    let refused = app
        .post(
            &format!("/leads/{old}/convert"),
            &json!({"deal": {"pipeline_id": id_of(&pipeline), "title": "Sofa", "amount": 1}}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "subject_erased")
    );
    app.log.close().await;
}

/// Events in the log other than the records of exports (which the answers compared
/// here make: each export is recorded as a `DataExported` event).
async fn recorded_facts(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM eventlog.events WHERE event_type <> 'DataExported'")
        .fetch_one(app.log.pool())
        .await
        .unwrap()
}
