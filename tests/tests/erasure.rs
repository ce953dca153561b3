//! Personal data that can be erased (issue 6): names, phones and emails of clients,
//! their contacts and leads are stored encrypted under a key per data subject;
//! `POST /clients/{id}/erase` and `POST /leads/{id}/erase` destroy the key and append
//! an erasure event, after which every answer shows `[erased]` (rebuilt read models
//! included) while the log stays append-only and verifies.

use axum::http::{Method, StatusCode};
use crm_api::auth::create_token;
use crm_tests::read::{id_of, ok};
use crm_tests::routes::Fill;
use crm_tests::scenario::{manager, Entities};
use crm_tests::{TestApp, ADMIN_TOKEN};
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
    // An erasure answers once the read models reflect it: they must run.
    let projectors = app.start_projectors();
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
    projectors.shutdown().await;
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

/// The personal values of one round: unique, and none a part of another round's.
fn secrets_of(round: usize) -> [String; 7] {
    [
        format!("Zoryana-{round}-Kovalchuk"),
        format!("Bohdan-{round}-Melnyk"),
        format!("+380 67 {round:03} 01 23"),
        format!("bohdan.{round}.melnyk@example.org"),
        format!("Marta-{round}-Lysenko"),
        format!("marta.{round}@example.com"),
        format!("Ostap-{round}-Hrytsenko"),
    ]
}

/// Every answer `server` gives about the round's subjects, as text, by URL: `first`
/// (stream cuts before the erasure, whose reading would not see the erasure event
/// that drops a cached key), then every GET route of the document filled with their
/// ids (so routes added later are asked too).
async fn every_view(
    server: &TestApp,
    doc: &Value,
    fill: &Fill,
    first: &[String],
) -> Vec<(String, String)> {
    let mut urls: Vec<String> = first.to_vec();
    urls.extend(fill.get_routes(doc).into_iter().flat_map(|route| {
        assert!(route.missing.is_none(), "{:?}", route.missing);
        route.urls
    }));
    let mut answers = Vec::new();
    for url in urls {
        let answer = server.get(&url).await;
        let body = ok(&answer, &url);
        let text = match body {
            Value::String(text) => text,
            other => other.to_string(),
        };
        answers.push((url, text));
    }
    answers
}

#[sqlx::test(migrations = false)]
async fn no_answer_given_after_an_erasure_shows_the_erased_values(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await.unwrap();
    // Another server on the same database, with caches of its own.
    let other = app.another_process(|state| state);
    let projectors = app.start_projectors();
    let e = Entities::create(&app).await;
    let doc = app.openapi().await;
    let mut erased: Vec<String> = Vec::new();
    for round in 0..20 {
        let [client_name, contact_name, phone, email, lead_name, lead_email, lone_name] =
            secrets_of(round);
        let client = ok(
            &app.post(
                "/clients",
                &json!({"name": client_name, "kind": "person", "manager_id": e.manager,
                    "contacts": [{"name": contact_name, "phone": phone, "email": email}]}),
            )
            .await,
            "register",
        );
        let client = id_of(&client);
        let linked = id_of(&ok(
            &app.post(
                "/leads",
                &json!({"source": "site", "name": lead_name, "email": lead_email,
                    "client_id": client, "manager_id": e.manager}),
            )
            .await,
            "capture",
        ));
        let lone = ok(
            &app.post(
                "/leads",
                &json!({"source": "phone", "name": lone_name, "phone": phone,
                    "occurred_at": chrono::Utc::now() - chrono::Duration::hours(3)}),
            )
            .await,
            "capture",
        );
        let (lone, made) = (id_of(&lone), lone["position"].as_i64().unwrap());
        let before = chrono::Utc::now();
        // Both servers have shown the values: their key caches hold the live keys.
        for server in [&app, &other] {
            let card = ok(
                &server
                    .get(&format!("/clients/{client}?min_position={made}"))
                    .await,
                "card",
            );
            assert_eq!(card["name"], client_name);
            let stream = ok(
                &server.get(&format!("/streams/lead-{lone}/events")).await,
                "lead",
            );
            assert_eq!(stream["events"][0]["data"]["name"], lone_name);
            let stream = ok(
                &server
                    .get(&format!("/streams/client-{client}/events"))
                    .await,
                "client",
            );
            assert_eq!(stream["events"][0]["data"]["name"], client_name);
        }
        // Erased through one server or the other, then asked at once through both.
        let (first, second) = if round % 2 == 0 {
            (&app, &other)
        } else {
            (&other, &app)
        };
        for (server, path) in [
            (first, format!("/clients/{client}/erase")),
            (second, format!("/leads/{lone}/erase")),
        ] {
            let answer = server.post(&path, &json!({})).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}: {:?}", answer.body);
            assert!(answer.body["position"].as_i64().unwrap() > 0);
        }
        erased.extend(secrets_of(round));
        let fill = e
            .fill()
            .with("clients", client)
            .with("leads", linked)
            .with("leads", lone)
            .with("streams", format!("lead-{linked}"))
            .with("streams", format!("lead-{lone}"))
            .with("streams", format!("client-{client}"));
        let extra = vec![
            format!("/streams/client-{client}/events?version=1"),
            format!("/streams/lead-{lone}/state?version=1"),
            format!(
                "/clients/{client}?as_of={}",
                urlencode(&before.to_rfc3339())
            ),
            format!("/clients?q={}", client_name),
            "/clients?limit=1000".to_owned(),
            "/events?limit=1000".to_owned(),
            "/reports/overdue/leads".to_owned(),
            "/export/events?format=csv".to_owned(),
            format!("/clients/{client}/timeline?limit=1000"),
        ];
        // The other server first: its projectors do not run, so only the vault tells
        // it that a key it holds was destroyed by the first.
        for server in [&other, &app] {
            for (url, text) in every_view(server, &doc, &fill, &extra).await {
                for secret in &erased {
                    assert!(
                        !text.contains(secret.as_str()),
                        "round {round}: GET {url} shows {secret} after the erasure answered: {text}"
                    );
                }
            }
        }
        // The search by the erased name finds nothing.
        let found = ok(
            &app.get(&format!("/clients?q={client_name}")).await,
            "search",
        );
        assert_eq!(found["items"], json!([]), "{found}");
    }
    projectors.shutdown().await;
    app.log.close().await;
}

#[sqlx::test(migrations = false)]
async fn an_erasure_a_stopped_read_model_cannot_apply_answers_503_with_the_key_destroyed(
    pool: PgPool,
) {
    let app = TestApp::with(pool.clone(), |state| {
        state.with_min_position_wait(std::time::Duration::from_secs(3))
    })
    .await
    .unwrap();
    // Every read model runs but the tasks'.
    let set = crm_projections::builtin()
        .into_iter()
        .filter(|p| p.name() != crm_projections::tasks::NAME)
        .fold(
            crm_projections::ProjectorSet::new(app.log.clone()),
            |set, p| set.with(p),
        );
    let running = set.spawn().unwrap();
    let olena = manager(&app, "Olena").await;
    let client = id_of(&ok(
        &app.post(
            "/clients",
            &json!({"name": CLIENT_NAME, "kind": "person", "manager_id": olena, "contacts": []}),
        )
        .await,
        "register",
    ));
    // The running read models have caught up (the erasure first waits for clients).
    let registered = app.log.last_position().await.unwrap().unwrap();
    for p in crm_projections::builtin() {
        if p.name() != crm_projections::tasks::NAME {
            let wait = std::time::Duration::from_secs(60);
            crm_projections::wait_until_reflects(&app.log, p.name(), registered, wait)
                .await
                .unwrap();
        }
    }
    let answer = app
        .post(&format!("/clients/{client}/erase"), &json!({}))
        .await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "erasure_pending"),
        "{:?}",
        answer.body
    );
    assert_eq!(answer.headers["content-type"], "application/problem+json");
    let detail = answer.body["detail"].as_str().unwrap();
    assert!(detail.contains("keys are destroyed"), "{detail}");
    assert!(
        detail.contains(&format!(
            "read models {} have not",
            crm_projections::tasks::NAME
        )),
        "{detail}"
    );
    // Done all the same: recorded, the key destroyed, the values gone from the log's
    // answers and from the read models that run.
    let erasure: i64 = sqlx::query_scalar(
        "SELECT position FROM eventlog.events WHERE event_type = 'ClientErased' AND stream_id = $1",
    )
    .bind(format!("client-{client}"))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(answer.body["position"], erasure);
    let key_gone: bool =
        sqlx::query_scalar("SELECT key IS NULL FROM vault.subject_keys WHERE subject_id = $1")
            .bind(client)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(key_gone);
    let state = ok(
        &app.get(&format!("/streams/client-{client}/state")).await,
        "state",
    );
    assert_eq!(state["state"]["name"], "[erased]");
    assert_eq!(card(&app, client, erasure).await["name"], "[erased]");
    // Erasing again appends nothing and waits again: still pending while tasks stop.
    let events = recorded_facts(&app).await;
    let again = app
        .post(&format!("/clients/{client}/erase"), &json!({}))
        .await;
    assert_eq!(again.code(), "erasure_pending", "{:?}", again.body);
    // Once the tasks' read model runs, the erasure answers.
    let tasks = crm_projections::ProjectorSet::new(app.log.clone())
        .with(std::sync::Arc::new(crm_projections::tasks::Tasks))
        .spawn()
        .unwrap();
    let done = crm_tests::retry(
        std::time::Duration::from_secs(30),
        |answer: &crm_tests::Answer| answer.code() == "erasure_pending",
        || async {
            let answer = app
                .post(&format!("/clients/{client}/erase"), &json!({}))
                .await;
            if answer.status.is_success() {
                Ok(answer)
            } else {
                Err(answer)
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(done.body["position"], 0, "{:?}", done.body);
    assert_eq!(recorded_facts(&app).await, events);
    tasks.shutdown().await;
    running.shutdown().await;
    app.log.close().await;
}
