//! The automation page (`/ui/automation`): a director defines a rule through its form,
//! sees it listed as the API lists it, disables it; a refused definition shows the
//! problem with the text kept and appends nothing; other roles are refused.

use axum::http::{header, StatusCode};
use crm_tests::TestApp;
use serde_json::Value;
use sqlx::PgPool;

use crate::webpage::{csrf_in, get, page_at, parse, post_form, select, session, text_of};

/// The rules as the API lists them to the admin, once it reflects `position`.
async fn api_rules(app: &TestApp, position: i64) -> Vec<Value> {
    let answer = app
        .get(&format!("/automation/rules?min_position={position}"))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["items"].as_array().unwrap().clone()
}

/// Where a redirect goes.
fn location(answer: &crm_tests::Answer) -> String {
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    answer.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned()
}

#[sqlx::test(migrations = false)]
async fn a_director_defines_lists_and_disables_a_rule_on_the_page(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let director = session(&app, "Dana", "director").await;
    let manager = session(&app, "Mark", "manager").await;

    // A manager neither sees the page in his menu nor opens it.
    let his = page_at(&app, "/ui", &manager).await;
    assert!(select(&his, "nav.menu a[href='/ui/automation']").is_empty());
    assert_eq!(
        get(&app, "/ui/automation", &manager).await.status,
        StatusCode::FORBIDDEN
    );

    // The director's page says there are no rules yet, and offers the five kinds.
    let doc = page_at(&app, "/ui/automation", &director).await;
    assert_eq!(select(&doc, "nav.menu a[href='/ui/automation']").len(), 1);
    assert_eq!(select(&doc, "p.empty").len(), 1);
    let kinds: Vec<String> = select(&doc, "select#rule-kind option")
        .iter()
        .map(|o| o.value().attr("value").unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "lead_round_robin",
            "task_on_stage",
            "lead_sla",
            "follow_up_after_win",
            "task_reminder"
        ]
    );
    let csrf = csrf_in(&doc, "form#rule-form");

    // Without the session's CSRF token: refused, nothing appended.
    let before = app.event_count().await;
    let forged = post_form(
        &app,
        "/ui/automation",
        &director,
        &[
            ("name", "Forged"),
            ("kind", "lead_sla"),
            ("params", r#"{"sla_minutes": 5}"#),
        ],
        &[],
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(app.event_count().await, before);

    // Settings that are not JSON: the form again, the text kept, the problem shown.
    let typed = r#"{"sla_minutes": 15"#;
    let refused = post_form(
        &app,
        "/ui/automation",
        &director,
        &[
            ("csrf_token", &csrf),
            ("name", "Unanswered"),
            ("kind", "lead_sla"),
            ("params", typed),
        ],
        &[],
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let doc = parse(&refused);
    assert_eq!(select(&doc, "#rule-problem").len(), 1);
    assert_eq!(text_of(&select(&doc, "textarea#rule-params")[0]), typed);
    assert_eq!(app.event_count().await, before);

    // Settings the API refuses (a negative SLA): its problem on the page, nothing appended.
    let refused = post_form(
        &app,
        "/ui/automation",
        &director,
        &[
            ("csrf_token", &csrf),
            ("name", "Unanswered"),
            ("kind", "lead_sla"),
            ("params", r#"{"sla_minutes": -1}"#),
        ],
        &[],
    )
    .await;
    assert!(refused.status.is_client_error(), "{}", refused.status);
    let doc = parse(&refused);
    assert_eq!(select(&doc, "#rule-problem").len(), 1);
    let kept: Vec<_> = select(&doc, "select#rule-kind option[selected]")
        .iter()
        .map(|o| o.value().attr("value").unwrap().to_owned())
        .collect();
    assert_eq!(kept, ["lead_sla"]);
    assert_eq!(app.event_count().await, before);

    // Defined: back to the page, which lists it as the API does.
    let defined = post_form(
        &app,
        "/ui/automation",
        &director,
        &[
            ("csrf_token", &csrf),
            ("name", "Unanswered"),
            ("kind", "lead_sla"),
            ("params", r#"{"sla_minutes": 15}"#),
        ],
        &[],
    )
    .await;
    let back = location(&defined);
    let position: i64 = back
        .strip_prefix("/ui/automation?min_position=")
        .unwrap()
        .parse()
        .unwrap();
    let rules = api_rules(&app, position).await;
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["name"], "Unanswered");
    assert_eq!(rules[0]["params"]["sla_minutes"], 15);
    let id = rules[0]["id"].as_str().unwrap().to_owned();
    let doc = page_at(&app, &back, &director).await;
    let rows = select(&doc, "table#rules tbody tr");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].value().attr("data-rule"), Some(id.as_str()));
    assert_eq!(
        text_of(&select(&doc, "table#rules tbody th")[0]),
        "Unanswered"
    );
    assert_eq!(
        select(&doc, "table#rules td[data-kind]")[0]
            .value()
            .attr("data-kind"),
        Some("lead_sla")
    );
    assert_eq!(
        select(&doc, "table#rules td[data-enabled]")[0]
            .value()
            .attr("data-enabled"),
        Some("true")
    );

    // Disabled from its button: the API and the page say so, and no button is left.
    let action = format!("/ui/automation/{id}/disable");
    assert_eq!(select(&doc, &format!("form[action='{action}']")).len(), 1);
    let csrf = csrf_in(&doc, &format!("form[action='{action}']"));
    let disabled = post_form(&app, &action, &director, &[("csrf_token", &csrf)], &[]).await;
    let back = location(&disabled);
    let position: i64 = back
        .strip_prefix("/ui/automation?min_position=")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(api_rules(&app, position).await[0]["enabled"], false);
    let doc = page_at(&app, &back, &director).await;
    assert_eq!(
        select(&doc, "table#rules td[data-enabled]")[0]
            .value()
            .attr("data-enabled"),
        Some("false")
    );
    assert!(select(&doc, &format!("form[action='{action}']")).is_empty());
    projectors.shutdown().await;
}
