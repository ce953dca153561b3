//! Time travel on a generated company: the deal list `as_of` a past time (from the
//! temporal read model) agrees with each deal folded from its own stream cut then;
//! the client card `as_of` a time agrees with the card replayed from the log cut
//! then (computed here in plain SQL from the spec's definitions); any stream cut at a
//! version or a time gives the events and the state the log holds up to there.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use crm_cli::seed::{self, SeedOptions};
use crm_tests::TestApp;
use serde_json::{json, Value};
use sqlx::PgPool;

/// Three instants spread over the generated year (July 2025 to June 2026).
const INSTANTS: [&str; 3] = [
    "2025-09-15T12:00:00Z",
    "2026-01-10T00:00:00Z",
    "2026-05-20T08:30:00Z",
];

/// The app on a generated company of 4,000 events, its read models caught up.
async fn company(pool: &PgPool) -> (TestApp, crm_projections::RunningProjectors) {
    let app = TestApp::new(pool.clone()).await.unwrap();
    let until = NaiveDate::from_ymd_opt(2026, 6, 30).unwrap();
    seed::seed(&app.log, &SeedOptions::new(4_000, 5, until), |_| {})
        .await
        .unwrap();
    let projectors = app.start_projectors();
    let last = app.log.last_position().await.unwrap().unwrap();
    // The deal list names managers: the team's read model too.
    for name in ["deals", "clients", "manager_kpis"] {
        crm_projections::wait_until_reflects(&app.log, name, last, Duration::from_secs(60))
            .await
            .unwrap();
    }
    (app, projectors)
}

/// Every deal of `/deals?{query}`, page after page.
async fn all_pages(app: &TestApp, query: &str) -> Vec<Value> {
    app.all_items(&format!("/deals?{query}"), 200).await
}

#[sqlx::test(migrations = false)]
async fn the_deal_list_as_of_a_time_is_each_deal_folded_from_its_stream_then(pool: PgPool) {
    let (app, projectors) = company(&pool).await;

    for instant in INSTANTS {
        let at: DateTime<Utc> = instant.parse().unwrap();
        let listed = all_pages(&app, &format!("as_of={instant}")).await;
        // The deals opened by then, from the log itself.
        let opened: BTreeSet<String> = sqlx::query_scalar(
            "SELECT data->>'deal_id' FROM eventlog.events \
              WHERE event_type = 'DealOpened' AND occurred_at <= $1",
        )
        .bind(at)
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
        let ids: BTreeSet<String> = listed
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect();
        assert!(!ids.is_empty(), "{instant}: some deals were open by then");
        assert_eq!(ids, opened, "{instant}: the deals opened by then");
        // Each one as its own stream, cut at that time, folds it.
        let mut statuses = BTreeSet::new();
        for deal in &listed {
            let id = deal["id"].as_str().unwrap();
            let folded = app.get(&format!("/deals/{id}?as_of={instant}")).await;
            assert_eq!(folded.status, StatusCode::OK, "{}", folded.body);
            // The list's row is the deal, plus the names a person reads (today's).
            let mut row = deal.clone();
            for name in ["client_name", "stage_name", "manager_name"] {
                assert!(
                    row.as_object_mut().unwrap().remove(name).is_some(),
                    "{name}"
                );
            }
            // The deal alone shows its lines (issue 18); the list does not.
            let mut folded = folded.body.clone();
            assert!(folded.as_object_mut().unwrap().remove("lines").is_some());
            assert_eq!(row, folded, "{instant}: deal {id}");
            statuses.insert(deal["status"].as_str().unwrap().to_owned());
        }
        // Filters apply to the state then.
        for status in &statuses {
            let filtered = all_pages(&app, &format!("as_of={instant}&status={status}")).await;
            let expected: Vec<&Value> = listed.iter().filter(|d| d["status"] == **status).collect();
            assert_eq!(
                filtered.iter().collect::<Vec<_>>(),
                expected,
                "{instant} {status}"
            );
        }
    }
    projectors.shutdown().await;
}

/// The funnel's stages as `(stage_id, deals, amount)`, in pipeline order.
fn funnel_stages(funnel: &Value) -> Vec<(String, i64, i64)> {
    funnel["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stage_id"].as_str().unwrap().to_owned(),
                s["deals"].as_i64().unwrap(),
                s["amount"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[sqlx::test(migrations = false)]
async fn the_funnel_as_of_a_time_counts_the_open_deals_of_the_deal_list_then(pool: PgPool) {
    let (app, projectors) = company(&pool).await;
    let pipelines = app.get("/pipelines").await.body;
    let pipelines: Vec<String> = pipelines["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!pipelines.is_empty());
    // The instants above, and exactly when some deal changes stage (the moves of that
    // day up to and including it), and just before.
    let mut instants: Vec<DateTime<Utc>> = INSTANTS.iter().map(|i| i.parse().unwrap()).collect();
    let changed: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT occurred_at FROM eventlog.events WHERE event_type = 'DealStageChanged' \
          ORDER BY position LIMIT 3 OFFSET 40",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(changed.len(), 3);
    for at in changed {
        instants.push(at);
        instants.push(at - chrono::Duration::microseconds(1));
    }
    for at in instants {
        let instant = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let stamp = instant.replace('+', "%2B");
        for pipeline in &pipelines {
            // The deal list as of then (checked above against each deal's own stream).
            let open = all_pages(
                &app,
                &format!("as_of={stamp}&pipeline_id={pipeline}&status=open"),
            )
            .await;
            let funnel = app
                .get(&format!(
                    "/reports/funnel?pipeline_id={pipeline}&as_of={stamp}"
                ))
                .await;
            assert_eq!(funnel.status, StatusCode::OK, "{}", funnel.body);
            let stages = funnel_stages(&funnel.body);
            let expected: Vec<(String, i64, i64)> = stages
                .iter()
                .map(|(stage, _, _)| {
                    let at_stage = open.iter().filter(|d| d["stage_id"] == stage.as_str());
                    let (n, sum) = at_stage.fold((0, 0), |(n, sum), d| {
                        (n + 1, sum + d["amount"].as_i64().unwrap())
                    });
                    (stage.clone(), n, sum)
                })
                .collect();
            assert_eq!(stages, expected, "{instant} {pipeline}");
            // Limited to one manager: his deals then.
            if let Some(manager) = open.first().map(|d| d["manager_id"].as_str().unwrap()) {
                let mine = app
                    .get(&format!(
                        "/reports/funnel?pipeline_id={pipeline}&as_of={stamp}&manager_id={manager}"
                    ))
                    .await;
                let counted: i64 = funnel_stages(&mine.body).iter().map(|s| s.1).sum();
                let listed = open.iter().filter(|d| d["manager_id"] == manager).count();
                assert_eq!(counted, listed as i64, "{instant} {pipeline} {manager}");
            }
        }
    }
    projectors.shutdown().await;
}

/// A card field as it stood: the last value, by version, that the registration or an
/// update carrying it gave (JSON null when absent).
fn card_field(field: &str) -> String {
    format!(
        "coalesce((SELECT CASE WHEN event_type = 'ClientRegistered' THEN data->'{field}' \
                               ELSE data->'changes'->'{field}' END \
                     FROM c WHERE event_type = 'ClientRegistered' \
                        OR (event_type = 'ClientUpdated' AND data->'changes' ? '{field}') \
                    ORDER BY version DESC LIMIT 1), 'null') AS {field}"
    )
}

/// The card of `client` replayed from the log cut at `as_of`, with its segment at
/// `now` and `churn_days`, per the spec's definitions, in plain SQL over
/// `eventlog.events`: None when the client had not registered by then.
async fn expected_card(
    pool: &PgPool,
    client: &str,
    as_of: DateTime<Utc>,
    now: DateTime<Utc>,
    churn_days: i32,
) -> Option<Value> {
    use sqlx::Row;
    let fields: Vec<String> = [
        "name", "kind", "size", "industry", "region", "source", "contacts",
    ]
    .iter()
    .map(|f| card_field(f))
    .collect();
    let sql = format!(
        "WITH c AS (SELECT version, event_type, data, occurred_at FROM eventlog.events \
                     WHERE stream_id = 'client-' || $1 AND occurred_at <= $2), \
              deals AS (SELECT data->>'deal_id' AS deal_id FROM eventlog.events \
                         WHERE event_type = 'DealOpened' AND data->>'client_id' = $1 \
                           AND occurred_at <= $2), \
              outcomes AS (SELECT d.deal_id, o.event_type, o.data FROM deals d \
                 LEFT JOIN LATERAL (SELECT e.event_type, e.data FROM eventlog.events e \
                     WHERE e.stream_id = 'deal-' || d.deal_id AND e.occurred_at <= $2 \
                       AND e.event_type IN ('DealWon', 'DealLost', 'DealReopened') \
                     ORDER BY e.version DESC LIMIT 1) o ON true), \
              wins AS (SELECT e.occurred_at FROM deals d JOIN eventlog.events e \
                  ON e.stream_id = 'deal-' || d.deal_id AND e.event_type = 'DealWon' \
                 AND e.occurred_at <= $2), \
              talks AS (SELECT count(*) AS n, max(occurred_at) AS last FROM eventlog.events \
                         WHERE event_type = 'InteractionLogged' AND data->>'client_id' = $1 \
                           AND occurred_at <= $2), \
              open AS (SELECT count(*) AS n FROM outcomes \
                        WHERE event_type IS NULL OR event_type = 'DealReopened') \
         SELECT EXISTS (SELECT 1 FROM c WHERE event_type = 'ClientRegistered') AS registered, \
                {fields}, \
                coalesce((SELECT CASE WHEN event_type = 'ClientReassigned' \
                                      THEN data->'to_manager_id' ELSE data->'manager_id' END \
                            FROM c WHERE event_type IN ('ClientRegistered', 'ClientReassigned') \
                           ORDER BY version DESC LIMIT 1), 'null') AS manager_id, \
                (SELECT occurred_at FROM c WHERE event_type = 'ClientRegistered') AS registered_at, \
                (SELECT max(version) FROM c) AS version, \
                open.n AS open, \
                (SELECT count(*) FROM outcomes WHERE event_type = 'DealWon') AS won, \
                (SELECT count(*) FROM outcomes WHERE event_type = 'DealLost') AS lost, \
                (SELECT coalesce(sum((data->>'amount')::bigint), 0)::bigint FROM outcomes \
                  WHERE event_type = 'DealWon') AS won_amount, \
                talks.n AS interactions, talks.last AS last_interaction_at, \
                (SELECT max(occurred_at) FROM wins) AS last_won_at, \
                CASE WHEN NOT EXISTS (SELECT 1 FROM wins WHERE occurred_at <= $3) THEN 'inquiry' \
                     WHEN open.n > 0 OR EXISTS (SELECT 1 FROM wins WHERE occurred_at <= $3 \
                          AND occurred_at >= $3 - make_interval(days => $4)) THEN 'active' \
                     ELSE 'churned' END AS segment \
           FROM talks, open",
        fields = fields.join(", ")
    );
    let row = sqlx::query(&sql)
        .bind(client)
        .bind(as_of)
        .bind(now)
        .bind(churn_days)
        .fetch_one(pool)
        .await
        .unwrap();
    if !row.get::<bool, _>("registered") {
        return None;
    }
    let at = |name: &str| row.get::<Option<DateTime<Utc>>, _>(name);
    let count = |name: &str| row.get::<i64, _>(name);
    let text = |name: &str| row.get::<Value, _>(name);
    let mut card = json!({
        "id": client,
        "name": text("name"),
        "kind": text("kind"),
        "size": text("size"),
        "industry": text("industry"),
        "region": text("region"),
        "source": text("source"),
        "manager_id": text("manager_id"),
        "segment": row.get::<String, _>("segment"),
        "contacts": text("contacts"),
        "deals": {
            "open": count("open"),
            "won": count("won"),
            "lost": count("lost"),
            "won_amount": count("won_amount"),
        },
        "interactions": count("interactions"),
        "last_interaction_at": at("last_interaction_at"),
        "last_won_at": at("last_won_at"),
        "registered_at": at("registered_at"),
        "version": count("version"),
        // Nobody is erased in the generated company.
        "erased_at": null,
        // A card as of a time is folded from the client's own streams: merges are not
        // followed there (docs/reports.md, Merged clients).
        "merged_into_client_id": null,
    });
    // The log stores the name and contacts encrypted: decrypted with the client's key.
    crm_eventlog::EventLog::new(pool.clone())
        .vault()
        .reveal_json(&mut card)
        .await
        .unwrap();
    Some(card)
}

/// The client ids a query returns.
async fn clients_where(pool: &PgPool, sql: &str) -> Vec<String> {
    sqlx::query_scalar(sql).fetch_all(pool).await.unwrap()
}

/// At least 20 clients: some with deals reopened, lost, won, the most interactions,
/// and others.
async fn sample_clients(pool: &PgPool) -> BTreeSet<String> {
    let by_deal_event = |event_type: &str| {
        format!(
            "SELECT DISTINCT o.data->>'client_id' FROM eventlog.events x \
               JOIN eventlog.events o ON o.event_type = 'DealOpened' \
                AND o.data->>'deal_id' = x.data->>'deal_id' \
              WHERE x.event_type = '{event_type}' ORDER BY 1 LIMIT 5"
        )
    };
    let mut sample = BTreeSet::new();
    for (what, sql) in [
        ("reopened", by_deal_event("DealReopened")),
        ("lost", by_deal_event("DealLost")),
        ("won", by_deal_event("DealWon")),
        (
            "talkative",
            "SELECT data->>'client_id' FROM eventlog.events \
              WHERE event_type = 'InteractionLogged' AND data ? 'client_id' \
              GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 5"
                .to_owned(),
        ),
    ] {
        let clients = clients_where(pool, &sql).await;
        assert!(
            !clients.is_empty(),
            "the company has clients with {what} deals"
        );
        sample.extend(clients);
    }
    let others = clients_where(
        pool,
        "SELECT data->>'client_id' FROM eventlog.events WHERE event_type = 'ClientRegistered' \
          ORDER BY md5(stream_id) LIMIT 40",
    )
    .await;
    for client in others {
        if sample.len() >= 24 {
            break;
        }
        sample.insert(client);
    }
    assert!(sample.len() >= 20, "{} clients", sample.len());
    sample
}

/// Checks a problem answer: its status, code and content type.
fn assert_problem(answer: &crm_tests::Answer, status: StatusCode, code: &str, what: &str) {
    assert_eq!(
        (answer.status, answer.code()),
        (status, code),
        "{what}: {}",
        answer.body
    );
    assert_eq!(
        answer.headers["content-type"], "application/problem+json",
        "{what}"
    );
}

#[sqlx::test(migrations = false)]
async fn the_client_card_as_of_a_time_is_the_card_replayed_from_the_log_cut_then(pool: PgPool) {
    let (app, projectors) = company(&pool).await;
    let clients = sample_clients(&pool).await;
    let (mut found, mut segments) = (0, BTreeSet::new());
    let (mut with_won, mut with_lost) = (false, false);
    for instant in INSTANTS {
        let at: DateTime<Utc> = instant.parse().unwrap();
        let mut found_then = 0;
        for client in &clients {
            let card = app.get(&format!("/clients/{client}?as_of={instant}")).await;
            match expected_card(&pool, client, at, at, 180).await {
                Some(expected) => {
                    assert_eq!(
                        card.status,
                        StatusCode::OK,
                        "{instant} {client}: {}",
                        card.body
                    );
                    assert_eq!(card.body, expected, "{instant}: client {client}");
                    segments.insert(expected["segment"].as_str().unwrap().to_owned());
                    with_won |= expected["deals"]["won"].as_i64().unwrap() > 0;
                    with_lost |= expected["deals"]["lost"].as_i64().unwrap() > 0;
                    found_then += 1;
                }
                None => assert_problem(&card, StatusCode::NOT_FOUND, "not_found", client),
            }
        }
        assert!(found_then > 0, "{instant}: some sampled clients existed");
        found += found_then;
    }
    assert!(found > clients.len(), "the sample spans the instants");
    assert!(
        with_won && with_lost,
        "some cards had won and lost deals then"
    );
    assert!(segments.len() >= 2, "segments seen: {segments:?}");

    // An explicit `now` and `churn_days` still judge the segment.
    let (as_of, now) = ("2026-01-10T00:00:00Z", "2026-04-01T00:00:00Z");
    let mut moved = 0;
    for client in &clients {
        let path = format!("/clients/{client}?as_of={as_of}&now={now}&churn_days=30");
        let card = app.get(&path).await;
        let expected = expected_card(
            &pool,
            client,
            as_of.parse().unwrap(),
            now.parse().unwrap(),
            30,
        )
        .await;
        let Some(expected) = expected else {
            assert_problem(&card, StatusCode::NOT_FOUND, "not_found", &path);
            continue;
        };
        assert_eq!(card.body, expected, "{path}");
        let default = app.get(&format!("/clients/{client}?as_of={as_of}")).await;
        moved += usize::from(default.body["segment"] != card.body["segment"]);
    }
    assert!(moved > 0, "some segment differs at another now");

    // Just before each client registered it did not exist; at that instant it did.
    for client in &clients {
        let registered_at: DateTime<Utc> = sqlx::query_scalar(
            "SELECT occurred_at FROM eventlog.events \
              WHERE stream_id = 'client-' || $1 AND version = 1",
        )
        .bind(client)
        .fetch_one(&pool)
        .await
        .unwrap();
        let before = (registered_at - chrono::TimeDelta::microseconds(1)).to_rfc3339();
        let answer = app
            .get(&format!(
                "/clients/{client}?as_of={}",
                before.replace('+', "%2B")
            ))
            .await;
        assert_problem(&answer, StatusCode::NOT_FOUND, "not_found", &before);
        let at = registered_at.to_rfc3339().replace('+', "%2B");
        let answer = app.get(&format!("/clients/{client}?as_of={at}")).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{client} at {at}: {}",
            answer.body
        );
    }

    // After everything, with the same `now`, the card is the live one.
    let now = "2026-07-01T00:00:00Z";
    for client in &clients {
        let live = app.get(&format!("/clients/{client}?now={now}")).await;
        assert_eq!(live.status, StatusCode::OK, "{}", live.body);
        let then = app
            .get(&format!(
                "/clients/{client}?as_of=2030-01-01T00:00:00Z&now={now}"
            ))
            .await;
        assert_eq!(then.body, live.body, "client {client}");
    }

    // The timeline as of a time: the live timeline's items that occurred by then.
    let mut cut_some = false;
    for client in clients.iter().take(8) {
        let live = app
            .all_items(&format!("/clients/{client}/timeline"), 1000)
            .await;
        for instant in INSTANTS {
            let at: DateTime<Utc> = instant.parse().unwrap();
            let expected: Vec<&Value> = live
                .iter()
                .filter(|i| {
                    i["occurred_at"]
                        .as_str()
                        .unwrap()
                        .parse::<DateTime<Utc>>()
                        .unwrap()
                        <= at
                })
                .collect();
            cut_some |= !expected.is_empty() && expected.len() < live.len();
            let path = format!("/clients/{client}/timeline?as_of={instant}");
            let then = app.all_items(&path, 7).await;
            assert_eq!(then.iter().collect::<Vec<_>>(), expected, "{path}");
        }
    }
    assert!(cut_some, "some timeline was cut");

    // Bad input is a 400 problem; an unknown client a 404.
    let client = clients.first().unwrap();
    for query in [
        "as_of=yesterday",
        "as_of=2026-01-10",
        "as_of=2026-01-10T00:00:00Z&churn_days=0",
    ] {
        let answer = app.get(&format!("/clients/{client}?{query}")).await;
        assert_problem(&answer, StatusCode::BAD_REQUEST, "invalid_query", query);
    }
    let unknown = uuid::Uuid::new_v4();
    let answer = app
        .get(&format!("/clients/{unknown}?as_of=2026-01-10T00:00:00Z"))
        .await;
    assert_problem(
        &answer,
        StatusCode::NOT_FOUND,
        "not_found",
        "unknown client",
    );
    projectors.shutdown().await;
}

/// A few streams of every kind: the longest ones and some others.
async fn sample_streams(pool: &PgPool) -> Vec<String> {
    let mut streams = Vec::new();
    for kind in [
        "manager",
        "pipeline",
        "client",
        "lead",
        "deal",
        "interaction",
        "task",
    ] {
        let of_kind: Vec<String> = sqlx::query_scalar(
            "(SELECT stream_id FROM eventlog.events WHERE stream_id LIKE $1 || '-%' \
               GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 3) \
             UNION (SELECT stream_id FROM eventlog.events WHERE stream_id LIKE $1 || '-%' \
               GROUP BY 1 ORDER BY md5(stream_id) LIMIT 2)",
        )
        .bind(kind)
        .fetch_all(pool)
        .await
        .unwrap();
        assert!(!of_kind.is_empty(), "the company has {kind} streams");
        streams.extend(of_kind);
    }
    streams
}

/// The `event_id`s of a list of events.
fn event_ids(events: &Value) -> Vec<String> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Checks that a deal's folded stream state has the fields of the deal view.
fn assert_state_is_deal(state: &Value, deal: &Value, what: &str) {
    assert_eq!(state["version"], deal["version"], "{what}");
    for field in [
        "id",
        "client_id",
        "pipeline_id",
        "stage_id",
        "title",
        "amount",
        "manager_id",
        "source",
        "status",
        "expected_close_on",
    ] {
        assert_eq!(state["state"][field], deal[field], "{what}: {field}");
    }
}

#[sqlx::test(migrations = false)]
async fn any_stream_cut_at_a_version_or_a_time_is_the_log_up_to_there(pool: PgPool) {
    let (app, projectors) = company(&pool).await;
    let (mut cut_by_time, mut deals_checked) = (0, 0);
    for stream in sample_streams(&pool).await {
        let whole = app.get(&format!("/streams/{stream}/events")).await;
        assert_eq!(whole.status, StatusCode::OK, "{stream}: {}", whole.body);
        let whole = whole.body["events"].as_array().unwrap().clone();
        let head = whole.len();
        let id = stream.split_once('-').unwrap().1;
        for n in BTreeSet::from([1, head.div_ceil(2), head]) {
            let cut = app
                .get(&format!("/streams/{stream}/events?version={n}"))
                .await;
            assert_eq!(cut.status, StatusCode::OK, "{stream}@{n}: {}", cut.body);
            assert_eq!(
                cut.body["events"],
                Value::from(whole[..n].to_vec()),
                "{stream}@{n}"
            );
            let state = app
                .get(&format!("/streams/{stream}/state?version={n}"))
                .await;
            assert_eq!(state.status, StatusCode::OK, "{stream}@{n}: {}", state.body);
            assert_eq!(state.body["stream"], stream.as_str());
            assert_eq!(state.body["version"], n, "{stream}@{n}");
            let entity_id = state.body["state"]["id"]
                .as_str()
                .or(state.body["state"]["interaction_id"].as_str());
            assert_eq!(entity_id, Some(id), "{stream}@{n}: {}", state.body);
            if stream.starts_with("deal-") {
                let deal = app.get(&format!("/deals/{id}?version={n}")).await;
                assert_eq!(deal.status, StatusCode::OK, "{}", deal.body);
                assert_state_is_deal(&state.body, &deal.body, &format!("{stream}@{n}"));
                deals_checked += 1;
            }
        }
        if head >= 3 {
            let part = app
                .get(&format!(
                    "/streams/{stream}/events?from_version=2&version=3"
                ))
                .await;
            assert_eq!(
                part.body["events"],
                Value::from(whole[1..3].to_vec()),
                "{stream}"
            );
        }
        for instant in INSTANTS {
            let at: DateTime<Utc> = instant.parse().unwrap();
            let expected: Vec<(String, i64)> = sqlx::query_as(
                "SELECT event_id::text, version FROM eventlog.events \
                  WHERE stream_id = $1 AND occurred_at <= $2 ORDER BY version",
            )
            .bind(&stream)
            .bind(at)
            .fetch_all(&pool)
            .await
            .unwrap();
            let cut = app
                .get(&format!("/streams/{stream}/events?as_of={instant}"))
                .await;
            assert_eq!(
                cut.status,
                StatusCode::OK,
                "{stream} {instant}: {}",
                cut.body
            );
            let ids: Vec<String> = expected.iter().map(|(id, _)| id.clone()).collect();
            assert_eq!(event_ids(&cut.body["events"]), ids, "{stream} {instant}");
            cut_by_time += usize::from(!ids.is_empty() && ids.len() < head);
            let state = app
                .get(&format!("/streams/{stream}/state?as_of={instant}"))
                .await;
            let Some((_, version)) = expected.last() else {
                assert_problem(&state, StatusCode::NOT_FOUND, "not_found", &stream);
                continue;
            };
            assert_eq!(
                state.status,
                StatusCode::OK,
                "{stream} {instant}: {}",
                state.body
            );
            assert_eq!(state.body["version"], *version, "{stream} {instant}");
            if stream.starts_with("deal-") {
                let deal = app.get(&format!("/deals/{id}?as_of={instant}")).await;
                assert_state_is_deal(&state.body, &deal.body, &format!("{stream} {instant}"));
            }
        }
        // The state as it stands is the state at the head.
        let now = app.get(&format!("/streams/{stream}/state")).await;
        let at_head = app
            .get(&format!("/streams/{stream}/state?version={head}"))
            .await;
        assert_eq!(now.body, at_head.body, "{stream}");

        // A version beyond the head is a 404 that says where the head is.
        for path in [
            format!("/streams/{stream}/events?version={}", head + 1),
            format!("/streams/{stream}/state?version={}", head + 1),
        ] {
            let answer = app.get(&path).await;
            assert_problem(&answer, StatusCode::NOT_FOUND, "not_found", &path);
            let detail = answer.body["detail"].as_str().unwrap();
            assert!(
                detail.contains(&format!("head is version {head}")),
                "{detail}"
            );
        }
    }
    assert!(cut_by_time > 0, "some stream was cut by time");
    assert!(deals_checked > 0, "deal states were compared");

    // A client's folded state at its head agrees with its card.
    let client: String = sqlx::query_scalar(
        "SELECT data->>'client_id' FROM eventlog.events WHERE event_type = 'ClientUpdated' LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let state = app.get(&format!("/streams/client-{client}/state")).await;
    let card = app.get(&format!("/clients/{client}")).await;
    for field in [
        "id",
        "name",
        "kind",
        "size",
        "industry",
        "region",
        "source",
        "manager_id",
        "contacts",
    ] {
        assert_eq!(
            state.body["state"][field], card.body[field],
            "client {client}: {field}"
        );
    }
    assert_eq!(state.body["version"], card.body["version"]);

    // Bad parameters: 400; unknown streams: 404; nothing appended.
    let before = app.event_count().await;
    let deal: String = sqlx::query_scalar(
        "SELECT stream_id FROM eventlog.events WHERE event_type = 'DealOpened' LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    for endpoint in ["events", "state"] {
        for query in [
            "version=0",
            "version=-3",
            "version=two",
            "version=1&as_of=2026-01-10T00:00:00Z",
            "as_of=yesterday",
            "as_of=2026-01-10",
            "at=2026-01-10T00:00:00Z",
        ] {
            let path = format!("/streams/{deal}/{endpoint}?{query}");
            let answer = app.get(&path).await;
            assert_problem(&answer, StatusCode::BAD_REQUEST, "invalid_query", &path);
        }
        for stream in [
            format!("deal-{}", uuid::Uuid::new_v4()),
            format!("task-{}", uuid::Uuid::new_v4()),
        ] {
            let path = format!("/streams/{stream}/{endpoint}?version=1");
            let answer = app.get(&path).await;
            assert_problem(&answer, StatusCode::NOT_FOUND, "not_found", &path);
        }
    }
    for path in [
        "/streams/nonsense/state".to_owned(),
        format!("/streams/{deal}/state?as_of=2000-01-01T00:00:00Z"),
    ] {
        let answer = app.get(&path).await;
        assert_problem(&answer, StatusCode::NOT_FOUND, "not_found", &path);
    }
    let early = app
        .get(&format!(
            "/streams/{deal}/events?as_of=2000-01-01T00:00:00Z"
        ))
        .await;
    assert_eq!(early.body, json!({"events": []}), "before its first event");
    assert_eq!(app.event_count().await, before, "reads appended nothing");
    projectors.shutdown().await;
}

#[sqlx::test(migrations = false)]
async fn time_travel_is_documented_and_takes_a_token(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let doc = app
        .send(axum::http::Method::GET, "/openapi.json", None, None, &[])
        .await;
    let params = |path: &str| -> BTreeSet<String> {
        doc.body["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{path} is not documented"))
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    for (path, expected) in [
        ("/streams/{stream}/events", &["as_of", "version"][..]),
        ("/streams/{stream}/state", &["as_of", "version"]),
        ("/clients/{id}", &["as_of", "now"]),
        ("/clients/{id}/timeline", &["as_of"]),
    ] {
        let documented = params(path);
        for name in expected {
            assert!(documented.contains(*name), "{path} documents {name}");
        }
    }
    let id = uuid::Uuid::new_v4();
    for path in [
        format!("/streams/deal-{id}/state"),
        format!("/streams/deal-{id}/events?version=1"),
        format!("/clients/{id}?as_of=2026-01-10T00:00:00Z"),
    ] {
        let answer = app
            .send(axum::http::Method::GET, &path, None, None, &[])
            .await;
        assert_problem(&answer, StatusCode::UNAUTHORIZED, "unauthorized", &path);
    }
}
