//! Tagged answers (issue 19): a report or list GET carries an `ETag` that is a
//! function of its query, its caller and the positions of the read models it reads;
//! `If-None-Match` with that tag gets a 304; answers are kept in a cache that a new
//! position invalidates. What must never happen: a stale answer after a change, an
//! answer computed for one caller given to another, a refusal turned into a 304.

use axum::http::{header, Method, StatusCode};
use crm_api::hidden::HiddenFields;
use crm_tests::company::Company;
use crm_tests::Answer;
use serde_json::{json, Value};
use sqlx::PgPool;

/// GET `path` as `token` after `position`, sending `If-None-Match: tag` when given.
async fn get(c: &Company, token: &str, path: &str, position: i64, tag: Option<&str>) -> Answer {
    let sep = if path.contains('?') { '&' } else { '?' };
    let path = format!("{path}{sep}min_position={position}");
    let headers: Vec<(&str, &str)> = tag.map(|t| ("if-none-match", t)).into_iter().collect();
    c.app
        .send(Method::GET, &path, Some(token), None, &headers)
        .await
}

/// The answer's `ETag` (panics without one).
fn tag(answer: &Answer) -> String {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer
        .headers
        .get(header::ETAG)
        .unwrap_or_else(|| panic!("no ETag: {:?}", answer.headers))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The funnel's deal count at each stage, in pipeline order.
fn counts(funnel: &Value) -> Vec<i64> {
    funnel["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["deals"].as_i64().unwrap())
        .collect()
}

/// A command's position (it must have succeeded).
fn position(answer: &Answer) -> i64 {
    assert!(answer.status.is_success(), "{}", answer.body);
    answer.body["position"].as_i64().unwrap()
}

#[sqlx::test(migrations = false)]
async fn a_report_carries_a_tag_and_an_if_none_match_naming_it_gets_a_304(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let funnel = format!("/reports/funnel?pipeline_id={}", c.pipeline);
    let first = get(&c, &c.tokens.director, &funnel, c.position, None).await;
    let etag = tag(&first);
    assert!(etag.starts_with("W/\""), "{etag}");
    assert_eq!(counts(&first.body)[0], 3);

    // The same answer, with or without `min_position`, has the same tag.
    let again = c
        .app
        .send(Method::GET, &funnel, Some(&c.tokens.director), None, &[])
        .await;
    assert_eq!(tag(&again), etag);
    assert_eq!(again.body, first.body);

    // Held: a 304 without a body, with the tag; also weakly compared and in a list.
    for held in [
        etag.clone(),
        etag.trim_start_matches("W/").to_owned(),
        format!("\"other\", {etag}"),
    ] {
        let answer = get(&c, &c.tokens.director, &funnel, c.position, Some(&held)).await;
        assert_eq!(answer.status, StatusCode::NOT_MODIFIED, "{held}");
        assert_eq!(answer.body, Value::Null);
        assert_eq!(answer.headers[header::ETAG], etag.as_str());
    }
    // Another tag: the whole answer.
    let other = get(&c, &c.tokens.director, &funnel, c.position, Some("W/\"0\"")).await;
    assert_eq!(tag(&other), etag);
    assert_eq!(other.body, first.body);
    // Another query: another tag.
    let managers = "/reports/managers?from=2026-01-01&to=2026-02-01";
    let kpis = get(&c, &c.tokens.director, managers, c.position, Some(&etag)).await;
    assert_ne!(tag(&kpis), etag);
}

#[sqlx::test(migrations = false)]
async fn a_command_by_anyone_changes_the_tag_and_the_body(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let funnel = format!("/reports/funnel?pipeline_id={}", c.pipeline);
    let before = get(&c, &c.tokens.director, &funnel, c.position, None).await;
    let old = tag(&before);
    assert_eq!(counts(&before.body)[..2], [3, 0]);

    // Andriy (a manager) moves his deal; the director's next answer shows it.
    let moved = c
        .post(
            &c.tokens.andriy,
            &format!("/deals/{}/stage", c.deals[0]),
            json!({"stage_id": c.stages[1]}),
        )
        .await;
    let at = position(&moved);
    let after = get(&c, &c.tokens.director, &funnel, at, Some(&old)).await;
    let new = tag(&after);
    assert_ne!(new, old);
    assert_eq!(counts(&after.body)[..2], [2, 1]);

    // A command that the funnel does not show (a task completed) moves no position
    // of the `deals` model: the tag stays.
    let done = c
        .post(
            &c.tokens.andriy,
            &format!("/tasks/{}/complete", c.tasks[0]),
            json!({}),
        )
        .await;
    let at = position(&done);
    let tasks = "/reports/overdue/tasks?now=2026-03-01T00:00:00Z";
    let overdue = get(&c, &c.tokens.director, tasks, at, None).await;
    assert_eq!(overdue.body["tasks"].as_array().unwrap().len(), 2);
    let same = get(&c, &c.tokens.director, &funnel, at, Some(&new)).await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);

    // A change of amount by the director: the tag and the figure change again.
    let changed = c
        .post(
            &c.tokens.director,
            &format!("/deals/{}/amount", c.deals[1]),
            json!({"amount": 5000}),
        )
        .await;
    let at = position(&changed);
    let last = get(&c, &c.tokens.director, &funnel, at, Some(&new)).await;
    assert_ne!(tag(&last), new);
    // Open: Beta 5000 and Gamma 3000 at the first stage, Alpha 1000 at the second.
    assert_eq!(last.body["stages"][0]["amount"], json!(8000));
    assert_eq!(last.body["open_amount"], json!(9000));
}

#[sqlx::test(migrations = false)]
async fn callers_with_different_reach_never_share_an_answer(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let t = &c.tokens;
    let funnel = format!("/reports/funnel?pipeline_id={}", c.pipeline);
    // The director's answer first (kept), then each other caller's, same query.
    let director = get(&c, &t.director, &funnel, c.position, None).await;
    let director_tag = tag(&director);
    let mut tags = vec![director_tag.clone()];
    for (token, open) in [
        (&t.director, 3),
        (&t.admin, 3),
        (&t.hanna, 2), // North: Andriy and Bohdan
        (&t.andriy, 1),
        (&t.bohdan, 1),
        (&t.ciril, 1),
    ] {
        // Even naming the director's tag, a manager gets his own answer.
        let answer = get(&c, token, &funnel, c.position, Some(&director_tag)).await;
        if token == &t.director {
            assert_eq!(answer.status, StatusCode::NOT_MODIFIED);
            continue;
        }
        assert_eq!(answer.body["open_deals"], json!(open), "{}", answer.body);
        tags.push(tag(&answer));
    }
    let distinct: std::collections::BTreeSet<&String> = tags.iter().collect();
    assert_eq!(distinct.len(), tags.len(), "{tags:?}");
    let andriy = get(&c, &t.andriy, &funnel, c.position, None).await;
    assert_eq!(andriy.body["open_amount"], json!(1000));

    // The managers report: the director's rows, then a manager's own row only.
    let kpis = "/reports/managers?from=2026-01-01&to=2026-02-01";
    let all = get(&c, &t.director, kpis, c.position, None).await;
    assert_eq!(all.body["managers"].as_array().unwrap().len(), 4);
    let own = get(&c, &t.andriy, kpis, c.position, Some(&tag(&all))).await;
    assert_eq!(own.status, StatusCode::OK);
    let rows = own.body["managers"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["manager_id"], json!(c.andriy));
}

#[sqlx::test(migrations = false)]
async fn roles_with_different_hidden_fields_get_answers_of_their_own(pool: PgPool) {
    let hidden = HiddenFields::parse(r#"{"auditor": {"client": ["region"]}}"#).unwrap();
    let c = Company::new(pool, hidden).await;
    let t = &c.tokens;
    let clients = "/clients?now=2026-02-01T00:00:00Z";
    let director = get(&c, &t.director, clients, c.position, None).await;
    let director_tag = tag(&director);
    let items = director.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|i| i["region"] == "Kyiv"));
    // The auditor reaches the same clients; region is hidden from him.
    let auditor = get(&c, &t.auditor, clients, c.position, Some(&director_tag)).await;
    assert_ne!(tag(&auditor), director_tag);
    let items = auditor.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|i| i.get("region").is_none()), "{items:?}");
    // And the director's kept answer is still his.
    let again = get(&c, &t.director, clients, c.position, None).await;
    assert_eq!(again.body, director.body);
}

#[sqlx::test(migrations = false)]
async fn an_erasure_changes_the_tag_and_the_answer(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let clients = "/clients?now=2026-02-01T00:00:00Z";
    let before = get(&c, &c.tokens.director, clients, c.position, None).await;
    let old = tag(&before);
    assert!(before.body.to_string().contains("Alpha"));
    let erased = c
        .post(
            &c.tokens.admin,
            &format!("/clients/{}/erase", c.clients[0]),
            json!({}),
        )
        .await;
    assert!(erased.status.is_success(), "{}", erased.body);
    let at = c.last_position().await;
    let after = get(&c, &c.tokens.director, clients, at, Some(&old)).await;
    assert_ne!(tag(&after), old);
    let text = after.body.to_string();
    assert!(!text.contains("Alpha"), "{text}");
    assert!(text.contains("[erased]"), "{text}");
}

#[sqlx::test(migrations = false)]
async fn answers_judged_at_the_servers_clock_and_errors_carry_no_tag(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let t = &c.tokens;
    // Judged at the server's clock: no tag, never a 304.
    for path in [
        "/reports/overdue/tasks",
        "/reports/overdue/deals",
        "/reports/overdue/leads",
        "/clients",
        "/reports/invoices?by=manager&from=2026-01-01&to=2027-01-01",
    ] {
        let answer = get(&c, &t.director, path, c.position, Some("*")).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert!(answer.headers.get(header::ETAG).is_none(), "{path}");
        let join = if path.contains('?') { '&' } else { '?' };
        let fixed = format!("{path}{join}now=2026-03-01T00:00:00Z");
        tag(&get(&c, &t.director, &fixed, c.position, None).await);
    }
    // Refusals and errors: no tag, and no 304 even to `*`.
    let unknown = format!("/reports/funnel?pipeline_id={}", uuid::Uuid::new_v4());
    let out_of_reach = format!(
        "/reports/funnel?pipeline_id={}&manager_id={}",
        c.pipeline, c.ciril
    );
    for (token, path, status) in [
        (&t.director, unknown.as_str(), StatusCode::NOT_FOUND),
        (&t.andriy, out_of_reach.as_str(), StatusCode::FORBIDDEN),
        (&t.director, "/reports/funnel", StatusCode::BAD_REQUEST),
    ] {
        for held in [None, Some("*")] {
            let answer = get(&c, token, path, c.position, held).await;
            assert_eq!(answer.status, status, "{path}: {}", answer.body);
            assert!(answer.headers.get(header::ETAG).is_none(), "{path}");
        }
    }
    // No token: 401, as before.
    let anonymous = c
        .app
        .send(Method::GET, "/reports/forecast", None, None, &[])
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    // A position that names no event: the 400 of read-your-writes.
    let beyond = get(
        &c,
        &t.director,
        "/reports/forecast",
        c.position + 1_000,
        None,
    )
    .await;
    assert_eq!(beyond.code(), "invalid_min_position");
}

#[sqlx::test(migrations = false)]
async fn the_document_states_tags_where_they_are_given(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let doc = c.app.openapi().await;
    let funnel = &doc["paths"]["/reports/funnel"]["get"];
    assert!(funnel["responses"]["304"].is_object());
    assert!(funnel["responses"]["200"]["headers"]["ETag"].is_object());
    let params = funnel["parameters"].as_array().unwrap();
    assert!(params
        .iter()
        .any(|p| p["name"] == "If-None-Match" && p["in"] == "header"));
    for untagged in ["/events", "/deals/{id}", "/managers/{id}/events"] {
        assert!(
            doc["paths"][untagged]["get"]["responses"]["304"].is_null(),
            "{untagged}"
        );
    }
}

#[sqlx::test(migrations = false)]
async fn a_rebuild_swapped_in_changes_the_tag_not_the_answer(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let funnel = format!("/reports/funnel?pipeline_id={}", c.pipeline);
    let before = get(&c, &c.tokens.director, &funnel, c.position, None).await;
    let old = tag(&before);
    let rebuild = c
        .post(&c.tokens.admin, "/projections/deals/rebuild", json!({}))
        .await;
    assert!(rebuild.status.is_success(), "{}", rebuild.body);
    c.app.wait_rebuilt("deals").await;
    // New tables: a new tag (the old answer is not served from the cache), same figures.
    let after = get(&c, &c.tokens.director, &funnel, c.position, Some(&old)).await;
    assert_ne!(tag(&after), old);
    assert_eq!(after.body, before.body);
}
