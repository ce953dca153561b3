//! The automation page (`/ui/automation`), for the admins and directors who define
//! rules: every rule with its kind, params and state, a button that disables an
//! enabled one, and a form that defines one (name, kind, params as JSON, each kind's
//! params shown with an example), the API's problems shown above the form with the
//! text kept as typed. Every read and write is the API's (`GET /automation/rules`,
//! `POST /automation/rules`, `POST /automation/rules/{id}/disable`), asked in process
//! as the person.

use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde_json::Value;
use uuid::Uuid;

use super::chart::empty;
use super::form::{csrf_field, Posted};
use super::i18n::{when, Lang};
use super::layout::{self, page};
use super::page::{answer, html as html_page, login_address, refusal, Ctx, PageResult};

/// The page's address.
const HERE: &str = "/ui/automation";

/// The rule kinds of the contract, each with an example of its params.
pub const KINDS: [(&str, &str); 5] = [
    (
        "lead_round_robin",
        r#"{"department": "Sales", "strategy": "round_robin"}"#,
    ),
    (
        "task_on_stage",
        r#"{"pipeline_id": "…", "stage_id": "…", "title": "Send the offer", "kind": "call", "due_in_hours": 24}"#,
    ),
    ("lead_sla", r#"{"sla_minutes": 15}"#),
    (
        "follow_up_after_win",
        r#"{"after_days": 30, "title": "Ask how the order went"}"#,
    ),
    ("task_reminder", r#"{"before_minutes": 30}"#),
];

/// The word for a rule kind.
fn kind_word(lang: Lang, kind: &str) -> &'static str {
    match kind {
        "lead_round_robin" => lang.t("rule_lead_round_robin"),
        "task_on_stage" => lang.t("rule_task_on_stage"),
        "lead_sla" => lang.t("rule_lead_sla"),
        "follow_up_after_win" => lang.t("rule_follow_up_after_win"),
        "task_reminder" => lang.t("rule_task_reminder"),
        _ => "—",
    }
}

/// What the form shows after a refused definition: the fields as typed and why.
struct Refused {
    name: String,
    kind: String,
    params: String,
    status: StatusCode,
    problem: Value,
}

/// `GET /ui/automation`.
pub async fn page_of_rules(ctx: Ctx) -> Response {
    let result = rules_page(&ctx, None).await;
    answer(&ctx, result)
}

/// The page, with the form showing a refused definition when there is one.
async fn rules_page(ctx: &Ctx, refused: Option<&Refused>) -> PageResult {
    ctx.may(layout::RULES)?;
    let lang = ctx.lang;
    let wait = ctx
        .param("min_position")
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty())
        .map_or_else(String::new, |p| format!("&min_position={p}"));
    let listed = ctx
        .api_get(&format!("/automation/rules?limit=1000{wait}"))
        .await?;
    let rules = listed["items"].as_array().cloned().unwrap_or_default();
    let more = !listed["next_cursor"].is_null();
    Ok(page(
        ctx,
        lang.t("automation"),
        html! {
            h1 { (lang.t("automation")) }
            p.hint { (lang.t("automation_intro")) }
            section aria-labelledby="rules-title" {
                h2 #rules-title { (lang.t("rules")) }
                @if rules.is_empty() {
                    (empty(lang.t("no_rules")))
                } @else {
                    div.scroll {
                        table #rules {
                            thead { tr {
                                th scope="col" { (lang.t("name")) }
                                th scope="col" { (lang.t("rule_kind")) }
                                th scope="col" { (lang.t("rule_params")) }
                                th scope="col" { (lang.t("status")) }
                                th scope="col" { (lang.t("defined_at")) }
                                th scope="col" { (lang.t("actions")) }
                            } }
                            tbody {
                                @for rule in &rules { (rule_row(ctx, rule)) }
                            }
                        }
                    }
                    @if more { p { (lang.t("rules_more")) } }
                }
            }
            (define_form(ctx, refused))
        },
    ))
}

/// One rule's row, with the disable button while it acts.
fn rule_row(ctx: &Ctx, rule: &Value) -> Markup {
    let lang = ctx.lang;
    let id = rule["id"].as_str().unwrap_or("");
    let enabled = rule["enabled"].as_bool().unwrap_or(false);
    let kind = rule["kind"].as_str().unwrap_or("");
    html! {
        tr data-rule=(id) {
            th scope="row" { (rule["name"].as_str().unwrap_or("")) }
            td data-kind=(kind) { (kind_word(lang, kind)) " " code { (kind) } }
            td { code { (rule["params"].to_string()) } }
            td data-enabled=(enabled) {
                @if enabled { (lang.t("rule_enabled")) } @else {
                    (lang.t("rule_disabled")) " " (time_of(&rule["disabled_at"]))
                }
            }
            td { (time_of(&rule["defined_at"])) }
            td {
                @if enabled {
                    form method="post" action={ (HERE) "/" (id) "/disable" } {
                        (csrf_field(ctx))
                        button type="submit" aria-label={ (lang.t("disable_rule")) ": " (rule["name"].as_str().unwrap_or("")) } { (lang.t("disable_rule")) }
                    }
                }
            }
        }
    }
}

/// A time of the API's answer as the pages write times (`2026-03-01 09:30 UTC`).
fn time_of(v: &Value) -> String {
    let text = v.as_str().unwrap_or("");
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| when(&t.with_timezone(&chrono::Utc)))
        .unwrap_or_else(|_| text.to_owned())
}

/// The form that defines a rule, with each kind's params and the API's problem of a
/// refused definition.
fn define_form(ctx: &Ctx, refused: Option<&Refused>) -> Markup {
    let lang = ctx.lang;
    let chosen = refused.map_or(KINDS[0].0, |r| r.kind.as_str());
    let params = refused.map_or(KINDS[0].1, |r| r.params.as_str());
    html! {
        section aria-labelledby="define-title" {
            h2 #define-title { (lang.t("define_rule")) }
            @if let Some(r) = refused {
                div.problem role="alert" #rule-problem {
                    strong { (lang.t("refused")) } " "
                    (r.problem["detail"].as_str().or(r.problem["title"].as_str()).unwrap_or(""))
                    @if let Some(errors) = r.problem["errors"].as_array() {
                        ul.problems { @for e in errors {
                            li { code { (e["path"].as_str().unwrap_or("")) } " " (e["message"].as_str().unwrap_or("")) }
                        } }
                    }
                    " (" (r.status.as_u16()) ")"
                }
            }
            form.editor #rule-form method="post" action=(HERE) {
                (csrf_field(ctx))
                label for="rule-name" { (lang.t("name")) }
                input #rule-name type="text" name="name" required maxlength="200" value=(refused.map_or("", |r| r.name.as_str()));
                label for="rule-kind" { (lang.t("rule_kind")) }
                select #rule-kind name="kind" {
                    @for (kind, _) in KINDS {
                        option value=(kind) selected[kind == chosen] { (kind_word(lang, kind)) }
                    }
                }
                label for="rule-params" { (lang.t("rule_params")) " (JSON)" }
                textarea #rule-params name="params" rows="4" spellcheck="false" aria-describedby="rule-kinds" { (params) }
                button type="submit" { (lang.t("define")) }
            }
            details.legend #rule-kinds open {
                summary { (lang.t("rule_kinds")) }
                dl.card {
                    @for (kind, example) in KINDS {
                        dt { (kind_word(lang, kind)) " " code { (kind) } }
                        dd { (lang.t(help_key(kind))) " " code { (example) } }
                    }
                }
            }
        }
    }
}

/// The key of the words that explain a kind.
fn help_key(kind: &str) -> &'static str {
    match kind {
        "lead_round_robin" => "rule_help_lead_round_robin",
        "task_on_stage" => "rule_help_task_on_stage",
        "lead_sla" => "rule_help_lead_sla",
        "follow_up_after_win" => "rule_help_follow_up_after_win",
        _ => "rule_help_task_reminder",
    }
}

/// `POST /ui/automation` (`name`, `kind`, `params`, the CSRF token): `POST
/// /automation/rules` as the person; back to the page (waiting for the rule to be
/// listed), or the page with the form as typed and the API's problem.
pub async fn define(posted: Posted) -> Response {
    let ctx = &posted.ctx;
    let lang = ctx.lang;
    if let Err(err) = ctx.may(layout::RULES) {
        return answer(ctx, Err(err));
    }
    let refused = |status: StatusCode, problem: Value| Refused {
        name: posted.field("name").unwrap_or("").to_owned(),
        kind: posted.field("kind").unwrap_or("").to_owned(),
        params: posted.field("params").unwrap_or("").to_owned(),
        status,
        problem,
    };
    let typed = posted.field("params").unwrap_or("");
    let outcome = match serde_json::from_str::<Value>(typed) {
        Err(e) => Err(refused(
            StatusCode::BAD_REQUEST,
            serde_json::json!({
                "code": "invalid_json",
                "detail": format!("{} ({} {}, {} {}): {e}", lang.t("params_not_json"),
                    lang.t("text_line"), e.line(), lang.t("text_column"), e.column()),
            }),
        )),
        Ok(params) => {
            let body = serde_json::json!({
                "name": posted.field("name").unwrap_or("").trim(),
                "kind": posted.field("kind").unwrap_or(""),
                "params": params,
            });
            match posted
                .api_send(Method::POST, "/automation/rules", &body)
                .await
            {
                Ok((status, accepted)) if status.is_success() => Ok(accepted),
                Ok((StatusCode::UNAUTHORIZED, _)) => {
                    return Redirect::to(&login_address(HERE)).into_response()
                }
                Ok((status, problem)) => Err(refused(status, problem)),
                Err(err) => return answer(ctx, Err(err)),
            }
        }
    };
    match outcome {
        Ok(accepted) => Redirect::to(&back(&accepted)).into_response(),
        Err(refused) => match rules_page(ctx, Some(&refused)).await {
            Ok(markup) => html_page(refused.status, markup),
            Err(err) => answer(ctx, Err(err)),
        },
    }
}

/// `POST /ui/automation/{id}/disable` (the CSRF token): `POST
/// /automation/rules/{id}/disable` as the person, then back to the page.
pub async fn disable(Path(id): Path<Uuid>, posted: Posted) -> Response {
    let ctx = &posted.ctx;
    if let Err(err) = ctx.may(layout::RULES) {
        return answer(ctx, Err(err));
    }
    let path = format!("/automation/rules/{id}/disable");
    match posted
        .api_send(Method::POST, &path, &serde_json::json!({}))
        .await
    {
        Ok((status, accepted)) if status.is_success() => {
            Redirect::to(&back(&accepted)).into_response()
        }
        Ok((StatusCode::UNAUTHORIZED, _)) => Redirect::to(&login_address(HERE)).into_response(),
        Ok((status, problem)) => answer(ctx, Err(refusal(status, &problem))),
        Err(err) => answer(ctx, Err(err)),
    }
}

/// The page's address after a write at the answer's position.
fn back(accepted: &Value) -> String {
    accepted["position"]
        .as_i64()
        .map_or_else(|| HERE.to_owned(), |p| format!("{HERE}?min_position={p}"))
}
