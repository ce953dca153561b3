//! Custom projections defined over HTTP, built from a generated company's whole log,
//! kept live, redefined beside the live rows, dropped; each checked against figures
//! computed with plain SQL over the log.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use chrono::NaiveDate;
use crm_cli::seed::{self, SeedOptions};
use crm_tests::TestApp;
use serde_json::{json, Value};
use sqlx::PgPool;

/// Calls per client region (as of each call) per month in Kyiv time.
fn calls_per_region_month() -> Value {
    json!({
        "name": "calls_per_region_month",
        "event_types": ["InteractionLogged"],
        "filters": [{"field": "data.kind", "op": "eq", "value": "call"}],
        "group_by": [
            {"name": "region", "field": "client.region"},
            {"name": "month", "bucket": "month", "time_zone": "Europe/Kyiv"}
        ],
        "measures": [
            {"name": "calls", "fn": "count"},
            {"name": "call_seconds", "fn": "sum", "field": "data.duration.seconds"}
        ]
    })
}

/// Lost amount (the deal's amount at the loss) per reason per pipeline per quarter.
fn lost_by_reason_pipeline_quarter() -> Value {
    json!({
        "name": "lost_by_reason",
        "event_types": ["DealLost"],
        "group_by": [
            {"name": "reason", "field": "data.reason"},
            {"name": "pipeline", "field": "deal.pipeline_id"},
            {"name": "quarter", "bucket": "quarter"}
        ],
        "measures": [
            {"name": "deals", "fn": "count"},
            {"name": "amount", "fn": "sum", "field": "deal.amount"},
            {"name": "largest", "fn": "max", "field": "deal.amount"},
            {"name": "smallest", "fn": "min", "field": "deal.amount"},
            {"name": "average", "fn": "avg", "field": "deal.amount"}
        ]
    })
}

/// Events per actor (from the metadata) and type, outbound calls left out.
fn events_per_actor() -> Value {
    json!({
        "name": "events_per_actor",
        "event_types": ["InteractionLogged", "DealWon", "DealLost"],
        "filters": [
            {"field": "metadata.actor", "op": "exists"},
            {"field": "data.direction", "op": "ne", "value": "outbound"}
        ],
        "group_by": [
            {"name": "actor", "field": "metadata.actor"},
            {"name": "type", "field": "event.type"}
        ],
        "measures": [{"name": "events", "fn": "count"}]
    })
}

/// Distinct clients contacted per manager per ISO week (UTC).
fn clients_per_manager_week() -> Value {
    json!({
        "name": "clients_per_manager_week",
        "event_types": ["InteractionLogged"],
        "filters": [{"field": "data.client_id", "op": "exists"}],
        "group_by": [
            {"name": "manager", "field": "data.manager_id"},
            {"name": "week", "bucket": "week", "time_zone": "UTC"}
        ],
        "measures": [{"name": "clients", "fn": "count_distinct", "field": "data.client_id"}]
    })
}

/// The probe of issue 14: a field a manager's event allows (`data.name`, `data.email`),
/// read from client and lead events too, which older code accepted.
fn probe_definition() -> Value {
    json!({
        "event_types": ["ManagerRegistered", "ClientRegistered", "LeadCaptured"],
        "group_by": [{"name": "who", "field": "data.name"}],
        "measures": [{"name": "emails", "fn": "count_distinct", "field": "data.email"}]
    })
}

/// Every row of `name` (with `query`), in pages of 7.
async fn all_rows(app: &TestApp, name: &str, query: &str) -> Vec<Value> {
    app.all_items(&format!("/projections/{name}/rows?{query}"), 7)
        .await
}

/// Rows as sorted JSON texts of the given columns, for comparing as sets.
fn as_set(rows: &[Value], columns: &[&str]) -> BTreeSet<String> {
    rows.iter()
        .map(|r| {
            let values: Vec<Value> = columns.iter().map(|c| normalize(&r[*c])).collect();
            Value::Array(values).to_string()
        })
        .collect()
}

/// Numbers as f64 (PostgreSQL's numeric and bigint come back alike), the rest as is.
fn normalize(v: &Value) -> Value {
    match v.as_f64() {
        Some(f) => json!(f),
        None => v.clone(),
    }
}

/// Expected rows of a query whose columns are JSON values, as [`as_set`] makes them.
async fn expected(pool: &PgPool, sql: &str) -> BTreeSet<String> {
    let rows: Vec<Value> = sqlx::query_scalar(sql).fetch_all(pool).await.unwrap();
    rows.iter()
        .map(|r| {
            let values: Vec<Value> = r.as_array().unwrap().iter().map(normalize).collect();
            Value::Array(values).to_string()
        })
        .collect()
}

/// The same figures with plain SQL, for the months `months` allows: each call's client
/// region as the client's own events had set it before the call in feed order.
fn calls_sql(months: &str) -> String {
    format!(
        "WITH calls AS (
           SELECT coalesce((SELECT CASE WHEN c.event_type = 'ClientRegistered' THEN c.data->'region'
                                        ELSE c.data->'changes'->'region' END
                              FROM eventlog.events c
                             WHERE c.stream_id = 'client-' || (i.data->>'client_id')
                               AND (c.event_type = 'ClientRegistered'
                                    OR (c.event_type = 'ClientUpdated' AND c.data->'changes' ? 'region'))
                               AND (c.tx_id, c.position) < (i.tx_id, i.position)
                             ORDER BY c.tx_id DESC, c.position DESC LIMIT 1), 'null'::jsonb) AS region,
                  date_trunc('month', i.occurred_at AT TIME ZONE 'Europe/Kyiv')::date AS month,
                  (i.data->'duration'->>'seconds')::bigint AS seconds
             FROM eventlog.events i
            WHERE i.event_type = 'InteractionLogged' AND i.data->>'kind' = 'call')
         SELECT jsonb_build_array(region, to_jsonb(month::text), count(*), coalesce(sum(seconds), 0))
           FROM calls WHERE {months} GROUP BY region, month"
    )
}

/// Each loss with its deal's pipeline and the amount the deal had before the loss.
const LOST_SQL: &str = "
    WITH losses AS (
      SELECT l.data->>'reason' AS reason,
             (SELECT o.data->'pipeline_id' FROM eventlog.events o
               WHERE o.stream_id = l.stream_id AND o.event_type = 'DealOpened') AS pipeline,
             date_trunc('quarter', l.occurred_at AT TIME ZONE 'UTC')::date AS quarter,
             (SELECT CASE a.event_type WHEN 'DealAmountChanged' THEN (a.data->>'to')::bigint
                                       ELSE (a.data->>'amount')::bigint END
                FROM eventlog.events a
               WHERE a.stream_id = l.stream_id AND a.version < l.version
                 AND a.event_type IN ('DealOpened', 'DealAmountChanged', 'DealWon')
               ORDER BY a.version DESC LIMIT 1) AS amount
        FROM eventlog.events l WHERE l.event_type = 'DealLost')
    SELECT jsonb_build_array(to_jsonb(reason), pipeline, to_jsonb(quarter::text), count(*),
                             coalesce(sum(amount), 0), max(amount), min(amount),
                             round(avg(amount), 4))
      FROM losses GROUP BY reason, pipeline, quarter";

const CLIENTS_SQL: &str = "
    SELECT jsonb_build_array(data->'manager_id',
                             to_jsonb(date_trunc('week', occurred_at AT TIME ZONE 'UTC')::date::text),
                             count(DISTINCT data->>'client_id'))
      FROM eventlog.events
     WHERE event_type = 'InteractionLogged' AND data ? 'client_id'
     GROUP BY data->'manager_id', date_trunc('week', occurred_at AT TIME ZONE 'UTC')::date";

#[sqlx::test(migrations = false)]
async fn three_definitions_built_from_the_log_match_plain_sql_and_stay_live(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await.unwrap();
    let until = NaiveDate::from_ymd_opt(2026, 6, 30).unwrap();
    seed::seed(&app.log, &SeedOptions::new(4_000, 5, until), |_| {})
        .await
        .unwrap();
    let projectors = app.start_projectors();

    let mut generations = Vec::new();
    for definition in [
        calls_per_region_month(),
        lost_by_reason_pipeline_quarter(),
        clients_per_manager_week(),
        events_per_actor(),
    ] {
        let answer = app.post("/projections", &definition).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
        generations.push((
            definition["name"].as_str().unwrap().to_owned(),
            answer.body["generation"].as_i64().unwrap(),
        ));
    }
    for (name, generation) in &generations {
        app.wait_custom_live(name, *generation).await;
    }

    let calls = all_rows(&app, "calls_per_region_month", "").await;
    let columns = ["region", "month", "calls", "call_seconds"];
    assert!(calls.len() > 5, "a few regions and months: {calls:?}");
    let regions: BTreeSet<String> = calls.iter().map(|r| r["region"].to_string()).collect();
    assert!(
        regions.len() > 2,
        "calls from clients of several regions: {regions:?}"
    );
    assert_eq!(
        as_set(&calls, &columns),
        expected(&pool, &calls_sql("true")).await
    );

    let lost = all_rows(&app, "lost_by_reason", "").await;
    let columns = [
        "reason", "pipeline", "quarter", "deals", "amount", "largest", "smallest", "average",
    ];
    assert!(lost.len() > 2, "losses for a few reasons: {lost:?}");
    assert!(
        lost.iter()
            .all(|r| r["pipeline"].is_string() && r["amount"].as_f64() > Some(0.0)),
        "{lost:?}"
    );
    assert_eq!(as_set(&lost, &columns), expected(&pool, LOST_SQL).await);

    let contacted = all_rows(&app, "clients_per_manager_week", "").await;
    let columns = ["manager", "week", "clients"];
    assert!(contacted.len() > 10);
    assert_eq!(
        as_set(&contacted, &columns),
        expected(&pool, CLIENTS_SQL).await
    );

    // Metadata fields filter and group; `ne` leaves out the events without the field
    // (deal events have no direction), as SQL's `<>` does.
    let actors = all_rows(&app, "events_per_actor", "").await;
    assert!(!actors.is_empty());
    assert_eq!(
        as_set(&actors, &["actor", "type", "events"]),
        expected(
            &pool,
            "SELECT jsonb_build_array(metadata->'actor', to_jsonb(event_type), count(*))
               FROM eventlog.events
              WHERE event_type IN ('InteractionLogged', 'DealWon', 'DealLost')
                AND metadata->>'actor' IS NOT NULL AND data->>'direction' <> 'outbound'
              GROUP BY metadata->'actor', event_type"
        )
        .await
    );

    // Filters, order and pages: the calls of one month, most calls first.
    let month = calls[0]["month"].as_str().unwrap().to_owned();
    let of_month = all_rows(
        &app,
        "calls_per_region_month",
        &format!("month={month}&order=-calls"),
    )
    .await;
    let mut expected_month: Vec<&Value> = calls
        .iter()
        .filter(|r| r["month"] == month.as_str())
        .collect();
    expected_month.sort_by_key(|r| std::cmp::Reverse(r["calls"].as_i64()));
    assert_eq!(
        of_month
            .iter()
            .map(|r| r["calls"].as_i64())
            .collect::<Vec<_>>(),
        expected_month
            .iter()
            .map(|r| r["calls"].as_i64())
            .collect::<Vec<_>>()
    );
    assert!(of_month.iter().all(|r| r["month"] == month.as_str()));
    let busy = all_rows(&app, "calls_per_region_month", "calls.gte=10").await;
    assert_eq!(
        busy.len(),
        calls
            .iter()
            .filter(|r| r["calls"].as_i64() >= Some(10))
            .count()
    );
    let bad = app
        .get("/projections/calls_per_region_month/rows?colour=red")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);

    // Kept live: one more call shows in its row.
    let client = sqlx::query_as::<_, (String, String)>(
        "SELECT data->>'client_id', data->>'manager_id' FROM eventlog.events \
          WHERE event_type = 'InteractionLogged' AND data ? 'client_id' ORDER BY position DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let logged = app
        .post(
            "/interactions",
            &json!({"kind": "call", "direction": "outbound", "manager_id": client.1,
                    "client_id": client.0, "duration_s": 1234, "occurred_at": "2026-07-15T10:00:00Z"}),
        )
        .await;
    assert_eq!(logged.status, StatusCode::CREATED, "{}", logged.body);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = all_rows(&app, "calls_per_region_month", "month=2026-07-01").await;
        if as_set(&now, &["region", "month", "calls", "call_seconds"])
            == expected(&pool, &calls_sql("month = '2026-07-01'")).await
            && !now.is_empty()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new call never showed: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    projectors.shutdown().await;
}

#[sqlx::test(migrations = false)]
async fn a_redefinition_is_built_beside_then_replaces_and_a_drop_removes_everything(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await.unwrap();
    let until = NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
    seed::seed(&app.log, &SeedOptions::new(1_500, 3, until), |_| {})
        .await
        .unwrap();
    let projectors = app.start_projectors();
    let defined = app.post("/projections", &clients_per_manager_week()).await;
    assert_eq!(defined.status, StatusCode::ACCEPTED, "{}", defined.body);
    app.wait_custom_live("clients_per_manager_week", 1).await;
    let listed = app.get("/projections").await;
    let entry = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "clients_per_manager_week")
        .unwrap();
    assert_eq!(
        (entry["kind"].as_str(), entry["state"].as_str()),
        (Some("custom"), Some("live"))
    );

    // The same name again is a conflict; a built-in name is refused.
    let again = app.post("/projections", &clients_per_manager_week()).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    let mut builtin = clients_per_manager_week();
    builtin["name"] = json!("deals");
    assert_eq!(
        app.post("/projections", &builtin).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Redefine: per month, with the interactions counted too.
    let mut monthly = clients_per_manager_week();
    monthly.as_object_mut().unwrap().remove("name");
    monthly["group_by"][1] = json!({"name": "month", "bucket": "month"});
    monthly["measures"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "interactions", "fn": "count"}));
    let redefined = app
        .send(
            Method::PUT,
            "/projections/clients_per_manager_week",
            Some(crm_tests::ADMIN_TOKEN),
            Some(&monthly),
            &[],
        )
        .await;
    assert_eq!(redefined.status, StatusCode::ACCEPTED, "{}", redefined.body);
    assert_eq!(redefined.body["generation"], 2);
    app.wait_custom_live("clients_per_manager_week", 2).await;
    let rows = all_rows(&app, "clients_per_manager_week", "").await;
    let expected_rows = expected(
        &pool,
        "SELECT jsonb_build_array(data->'manager_id',
                    to_jsonb(date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date::text),
                    count(DISTINCT data->>'client_id'), count(*))
           FROM eventlog.events WHERE event_type = 'InteractionLogged' AND data ? 'client_id'
          GROUP BY data->'manager_id', date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date",
    )
    .await;
    assert_eq!(
        as_set(&rows, &["manager", "month", "clients", "interactions"]),
        expected_rows
    );
    // A rebuild of the live generation beside its tables gives the same rows.
    let rebuild = app
        .post("/projections/clients_per_manager_week/rebuild", &json!({}))
        .await;
    assert_eq!(rebuild.status, StatusCode::ACCEPTED, "{}", rebuild.body);
    assert_eq!(rebuild.body["mode"], "beside");
    app.wait_rebuilt("custom.clients_per_manager_week.2").await;
    let rebuilt = all_rows(&app, "clients_per_manager_week", "").await;
    assert_eq!(
        as_set(&rebuilt, &["manager", "month", "clients", "interactions"]),
        expected_rows
    );
    // The first generation's tables are gone once the second went live.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'projections' AND tablename LIKE 'cp%' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        tables,
        [
            "cp2_clients_per_manager_week",
            "cp2d_clients_per_manager_week",
            "cp2e_clients_per_manager_week"
        ]
    );

    // Drop: rows are gone, the tables too, and the definitions stay in the log.
    let dropped = app
        .send(
            Method::DELETE,
            "/projections/clients_per_manager_week",
            Some(crm_tests::ADMIN_TOKEN),
            None,
            &[],
        )
        .await;
    assert_eq!(dropped.status, StatusCode::ACCEPTED, "{}", dropped.body);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'projections' AND tablename LIKE 'cp%'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        let rows = app.get("/projections/clients_per_manager_week/rows").await;
        if left == 0 && rows.status == StatusCode::NOT_FOUND {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still there: {left} tables, rows {}",
            rows.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stream = dropped.body["stream"].as_str().unwrap().to_owned();
    let history = app.get(&format!("/streams/{stream}/events")).await;
    let types: Vec<&str> = history.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "ProjectionDefined",
            "ProjectionRedefined",
            "ProjectionDropped"
        ]
    );
    projectors.shutdown().await;
}

#[sqlx::test(migrations = false)]
async fn bad_definitions_get_a_422_naming_the_part_and_append_nothing(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await.unwrap();
    let cases = [
        (
            json!({"event_types": ["DealWon"], "measures": [{"name": "n", "fn": "count"}]}),
            "name",
        ),
        (
            json!({"name": "Bad Name", "event_types": ["DealWon"], "measures": [{"name": "n", "fn": "count"}]}),
            "",
        ),
        (
            json!({"name": "x", "event_types": ["DealWonn"], "measures": [{"name": "n", "fn": "count"}]}),
            "event_types[0]",
        ),
        (
            json!({"name": "x", "event_types": ["DealWon"], "measures": [{"name": "n", "fn": "median", "field": "data.amount"}]}),
            "measures[0].fn",
        ),
        (
            json!({"name": "x", "event_types": ["DealWon"], "measures": [{"name": "n", "fn": "sum", "field": "data.reason"}]}),
            "measures[0].field",
        ),
        (
            json!({"name": "x", "event_types": ["DealWon"], "group_by": [{"name": "m", "bucket": "month", "time_zone": "Europe/Atlantis"}], "measures": [{"name": "n", "fn": "count"}]}),
            "group_by[0].time_zone",
        ),
        (
            json!({"name": "x", "event_types": ["DealWon"], "filters": [{"field": "deal.colour", "op": "eq", "value": 1}], "measures": [{"name": "n", "fn": "count"}]}),
            "filters[0].field",
        ),
        (
            json!({"name": "x", "event_types": ["DealWon"], "measures": [{"name": "n", "fn": "count"}], "having": []}),
            "having",
        ),
        // Personal data is no group key, filter or measure: analysts see none.
        (
            json!({"name": "x", "event_types": ["ClientRegistered"], "group_by": [{"name": "who", "field": "data.name"}], "measures": [{"name": "n", "fn": "count"}]}),
            "group_by[0].field",
        ),
        (
            json!({"name": "x", "event_types": ["LeadCaptured"], "filters": [{"field": "data.phone", "op": "exists"}], "measures": [{"name": "n", "fn": "count"}]}),
            "filters[0].field",
        ),
        (
            json!({"name": "x", "event_types": ["DealWon"], "measures": [{"name": "n", "fn": "count_distinct", "field": "client.name"}]}),
            "measures[0].field",
        ),
        // Nor when one listed type allows the path and another holds personal data there.
        (
            {
                let mut probe = probe_definition();
                probe["name"] = json!("x");
                probe
            },
            "group_by[0].field",
        ),
        (
            json!({"name": "x", "event_types": ["ManagerRegistered", "LeadCaptured"], "filters": [{"field": "data.email", "op": "eq", "value": "olena@x.ua"}], "measures": [{"name": "n", "fn": "count"}]}),
            "filters[0].field",
        ),
        (
            json!({"name": "x", "event_types": ["ClientRegistered"], "group_by": [{"name": "p", "field": "data.contacts.0.phone"}], "measures": [{"name": "n", "fn": "count"}]}),
            "group_by[0].field",
        ),
        (
            json!({"name": "x", "event_types": ["ClientUpdated"], "measures": [{"name": "n", "fn": "count_distinct", "field": "data.changes.name"}]}),
            "measures[0].field",
        ),
    ];
    for (body, path) in cases {
        let answer = app.post("/projections", &body).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            answer.body
        );
        let code = answer.body["code"].as_str().unwrap();
        if code == "invalid_definition" {
            assert_eq!(
                answer.body["errors"][0]["path"], path,
                "{body}: {}",
                answer.body
            );
        } else {
            assert_eq!(code, "invalid_projection_name", "{body}: {}", answer.body);
        }
    }
    // Only analysts, directors and admins define.
    let manager = crm_api::auth::create_token(&pool, None, "manager", None)
        .await
        .unwrap();
    let refused = app
        .send(
            Method::POST,
            "/projections",
            Some(&manager),
            Some(&clients_per_manager_week()),
            &[],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(app.event_count().await, 0, "nothing was appended");
    // Unknown names.
    assert_eq!(
        app.get("/projections/nothing/rows").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/projections/nothing").await.status,
        StatusCode::NOT_FOUND
    );
}

#[sqlx::test(migrations = false)]
async fn a_definition_older_code_accepted_that_reads_personal_data_is_refused_at_start(
    pool: PgPool,
) {
    let app = TestApp::new(pool.clone()).await.unwrap();
    let m = crm_tests::scenario::manager(&app, "Olena").await;
    let client = app
        .post(
            "/clients",
            &json!({"name": "Petro Ivanenko", "kind": "person", "manager_id": m,
                    "contacts": [{"name": "Petro", "phone": "+380 50 000 00 01"}]}),
        )
        .await;
    assert_eq!(client.status, StatusCode::CREATED, "{}", client.body);
    let lead = app
        .post(
            "/leads",
            &json!({"source": "site", "name": "Oksana Lysenko", "email": "oksana@x.ua"}),
        )
        .await;
    assert_eq!(lead.status, StatusCode::CREATED, "{}", lead.body);
    // The probe, appended as older code did once its check passed (it passed then).
    let name = "probe";
    let defined =
        crm_domain::DomainEvent::ProjectionDefined(crm_domain::events::ProjectionDefined {
            projection_id: crm_domain::custom_projection::id_of(name),
            name: name.into(),
            definition: probe_definition(),
        });
    let event = crm_api::commands::new_event(&defined, crm_eventlog::Metadata::default());
    app.log
        .append(
            &defined.stream(),
            crm_eventlog::ExpectedVersion::NoStream,
            vec![event],
        )
        .await
        .unwrap();
    // ...and the rows that code built, live, as an upgraded database would hold them.
    sqlx::query(
        "INSERT INTO projections.custom_runtime (name, generation, definition, live) \
         VALUES ($1, 1, $2, true)",
    )
    .bind(name)
    .bind(probe_definition())
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "CREATE TABLE projections.cp1_probe (_key text PRIMARY KEY, who jsonb NOT NULL, emails bigint)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO projections.cp1_probe VALUES ('[\"Petro Ivanenko\"]', '\"Petro Ivanenko\"', 0)")
        .execute(&pool)
        .await
        .unwrap();

    let projectors = app.start_projectors();
    // It is marked failed with the reasons, and its rows are gone.
    let deadline = Instant::now() + Duration::from_secs(60);
    let model = loop {
        let all = app.get("/projections").await;
        let model = all
            .body
            .as_array()
            .and_then(|a| a.iter().find(|m| m["name"] == name))
            .cloned();
        if let Some(model) = model.filter(|m| m["status"] == "failed") {
            break model;
        }
        assert!(Instant::now() < deadline, "never refused: {}", all.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let error = model["last_error"].as_str().unwrap();
    assert!(error.starts_with("definition refused: "), "{model}");
    assert!(error.contains("group_by[0].field"), "{model}");
    assert!(
        error.contains("personal data of ClientRegistered, LeadCaptured"),
        "{model}"
    );
    let table: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('projections.cp1_probe')::text")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(table, None, "the rows built from personal data are dropped");
    let rows = app.get(&format!("/projections/{name}/rows")).await;
    assert_eq!(
        (rows.status, rows.code()),
        (StatusCode::CONFLICT, "definition_refused"),
        "{}",
        rows.body
    );
    assert!(!rows.body.to_string().contains("Petro"), "{}", rows.body);
    let rebuild = app
        .post(&format!("/projections/{name}/rebuild"), &json!({}))
        .await;
    assert_eq!(rebuild.status, StatusCode::NOT_FOUND, "{}", rebuild.body);
    // The other read models are unaffected; a sound redefinition builds again.
    let redefined = app
        .send(
            Method::PUT,
            &format!("/projections/{name}"),
            Some(crm_tests::ADMIN_TOKEN),
            Some(&json!({"event_types": ["ManagerRegistered"],
                         "group_by": [{"name": "who", "field": "data.name"}],
                         "measures": [{"name": "n", "fn": "count"}]})),
            &[],
        )
        .await;
    assert_eq!(redefined.status, StatusCode::ACCEPTED, "{}", redefined.body);
    app.wait_custom_live(name, 2).await;
    let rows = all_rows(&app, name, "").await;
    assert_eq!(rows, vec![json!({"who": "Olena", "n": 1})]);
    projectors.shutdown().await;
}
