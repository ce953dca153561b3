//! Cursors reveal nothing their caller may not read: a client list cursor holds the
//! last card's name, which a role may have hidden, and a feed cursor a transaction
//! id, which no answer shows; both are sealed, and anything the server did not seal
//! is a 400 `invalid_cursor` (a NUL byte included).

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use crm_api::hidden::HiddenFields;
use crm_tests::scenario::{manager, response_id};
use crm_tests::TestApp;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

/// Every way a cursor could spell `name` without sealing it.
fn spellings(name: &str) -> Vec<String> {
    vec![
        name.to_owned(),
        name.to_lowercase(),
        hex::encode(name),
        STANDARD.encode(name),
        URL_SAFE_NO_PAD.encode(name),
    ]
}

#[sqlx::test(migrations = false)]
async fn the_client_list_cursor_hides_names_from_a_role_that_may_not_see_them(pool: PgPool) {
    let hidden = HiddenFields::parse(r#"{"manager": {"client": ["name"]}}"#).unwrap();
    let app = TestApp::with(pool, |s| s.with_hidden_fields(hidden))
        .await
        .unwrap();
    let projectors = app.start_projectors();
    let olena = manager(&app, "Olena").await;
    let token = crm_api::auth::create_token(app.log.pool(), Some(olena), "manager", None)
        .await
        .unwrap();
    let names = [
        "Zeta Secret LLC",
        "Alpha Hidden Ltd",
        "Mu Private Inc",
        "Beta Quiet Co",
    ];
    let (mut ids, mut last) = (BTreeSet::new(), 0);
    for name in names {
        let answer = app
            .post(
                "/clients",
                &json!({"name": name, "kind": "company", "manager_id": olena, "contacts": []}),
            )
            .await;
        ids.insert(response_id(&answer, StatusCode::CREATED, "client", 1));
        last = answer.body["position"].as_i64().unwrap();
    }

    // Page by page, one card at a time, as the manager who may not see names.
    let (mut seen, mut cursors, mut cursor) = (BTreeSet::new(), Vec::new(), String::new());
    loop {
        let page = app
            .send(
                Method::GET,
                &format!("/clients?limit=1&min_position={last}&cursor={cursor}"),
                Some(&token),
                None,
                &[],
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for item in page.body["items"].as_array().unwrap() {
            assert!(item.get("name").is_none(), "{item}");
            seen.insert(item["id"].as_str().unwrap().parse::<Uuid>().unwrap());
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => {
                cursors.push(next.to_owned());
                cursor = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(seen, ids, "every card once");
    assert_eq!(cursors.len(), names.len() - 1);
    for cursor in &cursors {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).unwrap_or_default();
        let decoded = String::from_utf8_lossy(&bytes);
        for name in names {
            // Words of five letters or more: a random cursor spells "Mu" or
            // "Co" by chance (one in forty), never "Secret" or a whole name.
            let words = name.split(' ').filter(|word| word.len() >= 5);
            for word in words.chain([name]) {
                for spelled in spellings(word) {
                    assert!(!cursor.contains(&spelled), "{cursor} spells {word}");
                    assert!(!decoded.contains(&spelled), "{cursor} holds {word}");
                }
            }
        }
    }
    projectors.shutdown().await;
}

#[sqlx::test(migrations = false)]
async fn cursors_the_server_did_not_make_are_a_400(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let olena = manager(&app, "Olena").await;
    let id = Uuid::new_v4();
    let feed = app.get("/events?limit=1").await;
    assert_eq!(feed.status, StatusCode::OK, "{}", feed.body);
    let feed_cursor = feed.body["next_cursor"].as_str().unwrap().to_owned();
    // Before: the id and the name in hex. A NUL in it reached SQL (a 500).
    let old_form = hex::encode(format!("{id}Acme"));
    let with_nul = hex::encode(format!("{id}Ac\0me"));
    let forged = URL_SAFE_NO_PAD.encode([0u8; 60]);
    for cursor in [
        &old_form,
        &with_nul,
        &forged,
        &feed_cursor,
        &"%00".to_owned(),
    ] {
        let answer = app.get(&format!("/clients?cursor={cursor}")).await;
        assert_eq!(
            (answer.status, answer.code()),
            (
                StatusCode::BAD_REQUEST,
                if cursor == "%00" {
                    "invalid_query"
                } else {
                    "invalid_cursor"
                }
            ),
            "{cursor}: {}",
            answer.body
        );
    }
    // The feed takes only its own sealed cursors: not the old `v1.<tx>.<position>`
    // form, not a client list's.
    let clients = app
        .get(&format!("/clients?limit=1&manager_id={olena}"))
        .await;
    assert_eq!(clients.status, StatusCode::OK);
    for cursor in ["v1.0.0".to_owned(), forged.clone(), old_form.clone()] {
        let answer = app.get(&format!("/events?cursor={cursor}")).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::BAD_REQUEST, "invalid_cursor"),
            "{cursor}: {}",
            answer.body
        );
    }
}

#[sqlx::test(migrations = false)]
async fn the_feed_cursor_is_sealed_and_pages_through_every_event_once(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    for name in ["A", "B", "C", "D", "E"] {
        manager(&app, name).await;
    }
    let tx_ids: Vec<i64> = sqlx::query_scalar("SELECT tx_id FROM eventlog.events")
        .fetch_all(app.log.pool())
        .await
        .unwrap();
    let mut expected: Vec<i64> = sqlx::query_scalar("SELECT position FROM eventlog.events")
        .fetch_all(app.log.pool())
        .await
        .unwrap();
    expected.sort_unstable();
    let (mut positions, mut cursor) = (Vec::new(), String::new());
    // Other tests' transactions on the same server may hold the feed back a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while positions.len() < expected.len() {
        assert!(std::time::Instant::now() < deadline, "{positions:?}");
        let page = app.get(&format!("/events?limit=2&cursor={cursor}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let events = page.body["events"].as_array().unwrap();
        positions.extend(events.iter().map(|e| e["position"].as_i64().unwrap()));
        let next = page.body["next_cursor"].as_str().unwrap().to_owned();
        for tx in &tx_ids {
            assert!(
                !next.contains(&format!(".{tx}.")),
                "{next} names a transaction"
            );
        }
        if events.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        cursor = next;
    }
    // Nothing more, and nothing twice.
    let rest = app.get(&format!("/events?cursor={cursor}")).await;
    assert_eq!(rest.body["events"], json!([]));
    positions.sort_unstable();
    assert_eq!(positions, expected);
}
