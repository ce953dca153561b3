//! Every route of the OpenAPI document (read from the real router's
//! `/openapi.json`), walked with each role's token against entities in and out of
//! its reach, each answer checked against [`table`]: what each role may do, written
//! here from the contract's roles (docs/architecture.md, "Who may see and do what"),
//! not read from the code. A route missing from the table fails the walk with its
//! name, so a route added later is covered once someone says who may use it.
//!
//! For every route: no token, and a deactivated manager's token, get 401. For each
//! role, and each owner of what the request names (Andriy and Bohdan of North,
//! Ciril of South): a 2xx when the role may use the route and reaches everything
//! the request names, else a 403 that appends nothing. Then each command is sent
//! again with each reference field of its body (every uuid field the document
//! declares: client, deal, lead, manager, assignee, co-executors, observers, the
//! id of the entity to create, …) pointing out of reach: 403, nothing appended;
//! and each query with each uuid query parameter pointing out of reach: a 403, or
//! an answer that names nothing out of reach. No answer to a manager or a head
//! names an entity out of his reach.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use crm_api::hidden::HiddenFields;
use crm_tests::company::Company;
use crm_tests::scenario::{registered, token};
use crm_tests::{Answer, ADMIN_TOKEN};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crm_api::access::Role;
use Role::*;

const EVERYONE: &[Role] = &[Manager, Head, Director, Admin, Auditor, Analyst];
/// Change clients, leads, deals, tasks and interactions (each within his reach).
const ACTORS: &[Role] = &[Manager, Head, Director, Admin];
/// Read clients, leads, deals and tasks (each within his reach).
const ENTITY_READERS: &[Role] = &[Manager, Head, Director, Admin, Auditor];
/// Read the whole log.
const LOG_READERS: &[Role] = &[Director, Admin, Auditor];
/// Export the base.
const EXPORTERS: &[Role] = &[Admin, Auditor];
/// Read custom projections.
const CUSTOM_READERS: &[Role] = &[Analyst, Director, Admin, Auditor];
/// Define custom projections.
const DEFINERS: &[Role] = &[Analyst, Director, Admin];
/// Define pipelines.
const PIPELINE_DEFINERS: &[Role] = &[Director, Admin];
/// Make up the team: register managers, deactivate them and hand their work over (a
/// head only managers of role `manager` of his own department).
const THE_TEAM: &[Role] = &[Head, Director, Admin];
/// Erase personal data.
const ERASERS: &[Role] = &[Director, Admin];
/// Rebuild built-in read models.
const REBUILDERS: &[Role] = &[Director, Admin];
/// Define, disable and read automation rules.
const RULE_DEFINERS: &[Role] = &[Director, Admin];
/// Define, read, disable and enable webhooks.
const WEBHOOK_ADMINS: &[Role] = &[Admin];
/// Define products of the catalogue.
const PRODUCT_DEFINERS: &[Role] = &[Director, Admin];
/// Set anyone's password.
const PASSWORD_SETTERS: &[Role] = &[Director, Admin];
/// The walk's one person with a password, who logs in.
const WALKER_EMAIL: &str = "walker@example.com";
const WALKER_PASSWORD: &str = "walker-password-1";

/// The kinds of entity a request may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Client,
    Deal,
    Lead,
    Task,
    Interaction,
    Manager,
}

/// What the path of a route names.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// Nothing.
    Nothing,
    /// A new entity of the owner's, made for the request (a command changes it); a
    /// task of someone else's is watched by Andriy.
    Fresh(Make),
    /// The owner's standing entity of this kind.
    Standing(Kind),
    /// The stream of the owner's standing client.
    ClientStream,
    /// The standing custom projection.
    StandingProjection,
    /// A custom projection made for the request.
    FreshProjection,
    /// A built-in read model.
    BuiltinReadModel,
    /// The company's pipeline.
    ThePipeline,
    /// An automation rule made for the request (a command disables it).
    FreshRule,
    /// A webhook made for the request (to a port nobody listens on).
    FreshWebhook,
}

/// What a fresh target is.
#[derive(Debug, Clone, Copy)]
enum Make {
    Client,
    Deal,
    WonDeal,
    /// A deal with a line, named by the path's `{line_id}`.
    DealWithLine,
    /// An invoice of a fresh deal.
    Invoice,
    /// A fresh client merged into the owner's standing client.
    MergedClient,
    Lead,
    Task,
    /// A manager of the owner's department, with a client of his.
    Manager,
}

/// What the contract says of a route.
struct Route {
    /// Needs no token.
    public: bool,
    /// The roles that may use it.
    roles: &'static [Role],
    /// Whether reach applies: the actor must reach everything it names (false:
    /// company-wide things, or lists that the reach filters).
    scoped: bool,
    target: Target,
    /// The query string, with placeholders (see [`Walk::fill`]).
    query: &'static str,
    /// The body, with placeholders.
    body: Option<Value>,
    /// What the body's `id` names: the kind of the entity it creates.
    creates: Option<Kind>,
}

fn public() -> Route {
    Route {
        public: true,
        ..query(EVERYONE, false, Target::Nothing, "")
    }
}

fn query(roles: &'static [Role], scoped: bool, target: Target, query: &'static str) -> Route {
    Route {
        public: false,
        roles,
        scoped,
        target,
        query,
        body: None,
        creates: None,
    }
}

fn command(roles: &'static [Role], target: Target, body: Value) -> Route {
    Route {
        body: Some(body),
        ..query(roles, true, target, "")
    }
}

fn create(roles: &'static [Role], kind: Kind, body: Value) -> Route {
    Route {
        creates: Some(kind),
        ..command(roles, Target::Nothing, body)
    }
}

fn company_wide(roles: &'static [Role], target: Target, body: Option<Value>) -> Route {
    Route {
        body,
        ..query(roles, false, target, "")
    }
}

/// A report: every role, each within his reach.
fn report(query_string: &'static str) -> Route {
    query(EVERYONE, false, Target::Nothing, query_string)
}

/// A custom projection's definition, named `name` (none: the path names it).
fn definition(name: Option<&str>) -> Value {
    let mut body = json!({"event_types": ["DealWon"], "measures": [{"name": "n", "fn": "count"}]});
    if let Some(name) = name {
        body["name"] = json!(name);
    }
    body
}

/// Who may use each route, by `METHOD /path` as the document names it. Placeholders:
/// `$owner` (the owner), `$mate` (another manager of his department), `$client`,
/// `$deal`, `$lead` (his standing ones), `$department` (his), `$pipeline`, `$stage`,
/// `$product` (the catalogue's one),
/// `$unique` (a new projection name).
fn table() -> BTreeMap<&'static str, Route> {
    use Target::*;
    BTreeMap::from([
        ("GET /openapi.json", public()),
        ("GET /health", public()),
        ("GET /health/live", public()),
        // Logins: anyone logs in (the walk's Walker has a password), any token or
        // session says who it is and logs out; an admin or a director sets anyone's
        // password (a manager only his own, with his current one: tests/tests/logins.rs).
        (
            "POST /auth/login",
            Route {
                body: Some(json!({"email": WALKER_EMAIL, "password": WALKER_PASSWORD})),
                ..public()
            },
        ),
        ("GET /auth/session", query(EVERYONE, false, Nothing, "")),
        ("POST /auth/logout", company_wide(EVERYONE, Nothing, None)),
        (
            "POST /managers/{id}/password",
            command(
                PASSWORD_SETTERS,
                Fresh(Make::Manager),
                json!({"password": "a-new-password-1"}),
            ),
        ),
        // The log.
        ("GET /events", query(LOG_READERS, false, Nothing, "")),
        ("GET /audit/verify", query(LOG_READERS, false, Nothing, "")),
        ("GET /export/events", query(EXPORTERS, false, Nothing, "")),
        (
            "GET /streams/{stream}/events",
            query(ENTITY_READERS, true, ClientStream, ""),
        ),
        (
            "GET /streams/{stream}/state",
            query(ENTITY_READERS, true, ClientStream, ""),
        ),
        // Read models and custom projections.
        ("GET /projections", query(EVERYONE, false, Nothing, "")),
        (
            "POST /projections/{name}/rebuild",
            company_wide(REBUILDERS, BuiltinReadModel, None),
        ),
        (
            "POST /projections",
            company_wide(DEFINERS, Nothing, Some(definition(Some("$unique")))),
        ),
        (
            "GET /projections/{name}",
            query(CUSTOM_READERS, false, StandingProjection, ""),
        ),
        (
            "PUT /projections/{name}",
            company_wide(DEFINERS, FreshProjection, Some(definition(None))),
        ),
        (
            "DELETE /projections/{name}",
            company_wide(DEFINERS, FreshProjection, None),
        ),
        (
            "GET /projections/{name}/rows",
            query(CUSTOM_READERS, false, StandingProjection, ""),
        ),
        // The team (a head: managers of role `manager` of his department only) and
        // pipelines.
        (
            "POST /managers",
            create(
                THE_TEAM,
                Kind::Manager,
                json!({"name": "New", "department": "$department", "role": "manager"}),
            ),
        ),
        (
            "POST /managers/{id}/deactivate",
            command(THE_TEAM, Fresh(Make::Manager), json!({})),
        ),
        (
            "POST /managers/{id}/handover",
            command(
                THE_TEAM,
                Fresh(Make::Manager),
                json!({"to_manager_id": "$owner"}),
            ),
        ),
        (
            "POST /pipelines",
            company_wide(
                PIPELINE_DEFINERS,
                Nothing,
                Some(json!({"name": "P", "stages": [{"name": "S", "probability": 0.5}]})),
            ),
        ),
        // Automation rules: company-wide, admins and directors only.
        (
            "POST /automation/rules",
            company_wide(
                RULE_DEFINERS,
                Nothing,
                Some(json!({"name": "R", "kind": "lead_sla", "params": {"sla_minutes": 30}})),
            ),
        ),
        (
            "POST /automation/rules/{id}/disable",
            company_wide(RULE_DEFINERS, FreshRule, Some(json!({}))),
        ),
        (
            "GET /automation/rules",
            query(RULE_DEFINERS, false, Nothing, ""),
        ),
        // Webhooks: admins only.
        (
            "POST /webhooks",
            company_wide(
                WEBHOOK_ADMINS,
                Nothing,
                Some(json!({"url": "http://127.0.0.1:9/hook", "secret": "sixteen chars at least"})),
            ),
        ),
        ("GET /webhooks", query(WEBHOOK_ADMINS, false, Nothing, "")),
        (
            "GET /webhooks/{id}/deliveries",
            query(WEBHOOK_ADMINS, false, FreshWebhook, ""),
        ),
        (
            "POST /webhooks/{id}/disable",
            company_wide(WEBHOOK_ADMINS, FreshWebhook, None),
        ),
        (
            "POST /webhooks/{id}/enable",
            company_wide(WEBHOOK_ADMINS, FreshWebhook, None),
        ),
        // Clients.
        (
            "POST /clients",
            create(
                ACTORS,
                Kind::Client,
                json!({"name": "New", "kind": "company", "manager_id": "$owner"}),
            ),
        ),
        (
            "PATCH /clients/{id}",
            command(ACTORS, Fresh(Make::Client), json!({"name": "Renamed"})),
        ),
        (
            "POST /clients/{id}/assign",
            command(ACTORS, Fresh(Make::Client), json!({"manager_id": "$mate"})),
        ),
        (
            "POST /clients/{id}/erase",
            command(ERASERS, Fresh(Make::Client), json!({})),
        ),
        ("GET /clients", query(ENTITY_READERS, false, Nothing, "")),
        (
            "GET /clients/{id}",
            query(ENTITY_READERS, true, Standing(Kind::Client), ""),
        ),
        (
            "GET /clients/{id}/timeline",
            query(ENTITY_READERS, true, Standing(Kind::Client), ""),
        ),
        (
            "GET /clients/duplicates",
            query(ENTITY_READERS, false, Nothing, ""),
        ),
        // Leads.
        (
            "POST /leads",
            create(
                ACTORS,
                Kind::Lead,
                json!({"source": "web", "name": "New lead", "manager_id": "$owner", "client_id": "$client"}),
            ),
        ),
        (
            "POST /leads/{id}/assign",
            command(ACTORS, Fresh(Make::Lead), json!({"manager_id": "$mate"})),
        ),
        (
            "POST /leads/{id}/reject",
            command(ACTORS, Fresh(Make::Lead), json!({"reason": "spam"})),
        ),
        (
            "POST /leads/{id}/convert",
            command(
                ACTORS,
                Fresh(Make::Lead),
                json!({"deal": {"pipeline_id": "$pipeline", "title": "From a lead", "amount": 10}}),
            ),
        ),
        (
            "POST /leads/{id}/erase",
            command(ERASERS, Fresh(Make::Lead), json!({})),
        ),
        // Deals.
        (
            "POST /deals",
            create(
                ACTORS,
                Kind::Deal,
                json!({"client_id": "$client", "pipeline_id": "$pipeline", "title": "New deal", "amount": 5, "manager_id": "$owner"}),
            ),
        ),
        ("GET /deals", query(ENTITY_READERS, false, Nothing, "")),
        (
            "GET /deals/{id}",
            query(ENTITY_READERS, true, Standing(Kind::Deal), ""),
        ),
        (
            "POST /deals/{id}/stage",
            command(ACTORS, Fresh(Make::Deal), json!({"stage_id": "$stage"})),
        ),
        (
            "POST /deals/{id}/amount",
            command(ACTORS, Fresh(Make::Deal), json!({"amount": 7})),
        ),
        (
            "POST /deals/{id}/assign",
            command(ACTORS, Fresh(Make::Deal), json!({"manager_id": "$mate"})),
        ),
        (
            "POST /deals/{id}/win",
            command(ACTORS, Fresh(Make::Deal), json!({})),
        ),
        (
            "POST /deals/{id}/lose",
            command(ACTORS, Fresh(Make::Deal), json!({"reason": "price"})),
        ),
        (
            "POST /deals/{id}/reopen",
            command(ACTORS, Fresh(Make::WonDeal), json!({})),
        ),
        // The sales department's business (issue 18): products are company-wide;
        // a deal's lines, invoices (and their payments) and shipments are the deal's;
        // plans are set by the team's heads (for their department), directors, admins.
        (
            "POST /products",
            company_wide(
                PRODUCT_DEFINERS,
                Nothing,
                Some(json!({"name": "Box", "category": "Packaging"})),
            ),
        ),
        (
            "POST /deals/{id}/lines",
            command(
                ACTORS,
                Fresh(Make::Deal),
                json!({"product_id": "$product", "quantity": 2, "price": 10}),
            ),
        ),
        (
            "POST /deals/{id}/lines/{line_id}/remove",
            command(ACTORS, Fresh(Make::DealWithLine), json!({})),
        ),
        (
            "POST /deals/{id}/invoices",
            command(
                ACTORS,
                Fresh(Make::Deal),
                json!({"number": "INV-1", "amount": 10, "due_on": "2026-03-01"}),
            ),
        ),
        (
            "POST /invoices/{id}/payments",
            command(
                ACTORS,
                Fresh(Make::Invoice),
                json!({"amount": 1, "paid_on": "2026-03-02"}),
            ),
        ),
        (
            "POST /deals/{id}/shipments",
            command(
                ACTORS,
                Fresh(Make::Deal),
                json!({"shipped_on": "2026-03-02"}),
            ),
        ),
        (
            "POST /plans",
            command(
                THE_TEAM,
                Nothing,
                json!({"manager_id": "$owner", "month": "2026-03", "targets": {"calls": 10}}),
            ),
        ),
        (
            "POST /clients/{id}/merge",
            command(
                ACTORS,
                Fresh(Make::Client),
                json!({"into_client_id": "$client"}),
            ),
        ),
        (
            "POST /clients/{id}/unmerge",
            command(ACTORS, Fresh(Make::MergedClient), json!({})),
        ),
        // Interactions and tasks. A task is changed by its assignee and co-executors
        // (and whoever reaches them), not by its observers: a fresh task of someone
        // else's is watched by the manager's token, which must get a 403.
        (
            "POST /interactions",
            create(
                ACTORS,
                Kind::Interaction,
                json!({"kind": "call", "direction": "outbound", "manager_id": "$owner",
                "client_id": "$client", "deal_id": "$deal", "lead_id": "$lead"}),
            ),
        ),
        (
            "POST /tasks",
            create(
                ACTORS,
                Kind::Task,
                json!({"title": "Call", "assignee_id": "$owner", "due_at": "2026-03-01T09:00:00Z",
                "client_id": "$client", "deal_id": "$deal"}),
            ),
        ),
        ("GET /tasks", query(ENTITY_READERS, false, Nothing, "")),
        (
            "POST /tasks/{id}/reschedule",
            command(
                ACTORS,
                Fresh(Make::Task),
                json!({"due_at": "2026-04-01T09:00:00Z"}),
            ),
        ),
        (
            "POST /tasks/{id}/assign",
            command(ACTORS, Fresh(Make::Task), json!({"assignee_id": "$mate"})),
        ),
        (
            "POST /tasks/{id}/complete",
            command(ACTORS, Fresh(Make::Task), json!({})),
        ),
        (
            "POST /tasks/{id}/cancel",
            command(ACTORS, Fresh(Make::Task), json!({})),
        ),
        // The team and pipelines are read by everyone; leads, tasks and
        // interactions within reach.
        ("GET /managers", query(EVERYONE, false, Nothing, "")),
        (
            "GET /managers/{id}",
            query(EVERYONE, false, Standing(Kind::Manager), ""),
        ),
        // A manager's day: those who act, for a manager in their reach.
        (
            "GET /managers/{id}/day",
            query(ACTORS, true, Standing(Kind::Manager), "date=2026-03-01"),
        ),
        // The events behind a figure of the managers report: every role, for a
        // manager in his reach.
        (
            "GET /managers/{id}/events",
            query(
                EVERYONE,
                true,
                Standing(Kind::Manager),
                "figure=calls&from=2020-01-01&to=2100-01-01",
            ),
        ),
        ("GET /pipelines", query(EVERYONE, false, Nothing, "")),
        ("GET /products", query(EVERYONE, false, Nothing, "")),
        (
            "GET /pipelines/{id}",
            query(EVERYONE, false, ThePipeline, ""),
        ),
        ("GET /leads", query(ENTITY_READERS, false, Nothing, "")),
        (
            "GET /leads/{id}",
            query(ENTITY_READERS, true, Standing(Kind::Lead), ""),
        ),
        (
            "GET /tasks/{id}",
            query(ENTITY_READERS, true, Standing(Kind::Task), ""),
        ),
        (
            "GET /interactions",
            query(ENTITY_READERS, false, Nothing, ""),
        ),
        (
            "GET /interactions/{id}",
            query(ENTITY_READERS, true, Standing(Kind::Interaction), ""),
        ),
        // Reports.
        ("GET /reports/funnel", report("pipeline_id=$pipeline")),
        ("GET /reports/forecast", report("")),
        ("GET /reports/overdue/deals", report("")),
        ("GET /reports/overdue/tasks", report("")),
        ("GET /reports/overdue/leads", report("")),
        (
            "GET /reports/loss-reasons",
            report("from=2020-01-01&to=2100-01-01"),
        ),
        (
            "GET /reports/revenue",
            report("by=manager&from=2020-01-01&to=2100-01-01"),
        ),
        (
            "GET /reports/conversion",
            report("pipeline_id=$pipeline&from=2020-01-01&to=2100-01-01"),
        ),
        (
            "GET /reports/leads",
            report("by=manager&from=2020-01-01&to=2100-01-01"),
        ),
        (
            "GET /reports/managers",
            report("from=2020-01-01&to=2100-01-01"),
        ),
        (
            "GET /reports/invoices",
            report("by=manager&from=2020-01-01&to=2100-01-01"),
        ),
        ("GET /reports/plans", report("month=2026-01")),
        ("GET /reports/tasks/people", report("")),
    ])
}

/// The kind a body field or query parameter names, by its name (`path`: where in
/// the body, `[]` for an array's items); Ok(None) for what no manager answers for
/// (pipelines, stages); Err for a field this table does not know yet.
fn field_kind(route: &Route, path: &[String]) -> Result<Option<Kind>, String> {
    let last = path.last().map(String::as_str).unwrap_or("");
    let parent = path.len().checked_sub(2).map(|i| path[i].as_str());
    match (parent, last) {
        (_, "client_id" | "into_client_id") => Ok(Some(Kind::Client)),
        (_, "product_id") => Ok(None),
        // A deal's line, invoice or shipment, an invoice's payment: made under the
        // path's deal or invoice, whose reach is theirs.
        (None, "line_id") => Ok(None),
        (None, "id")
            if route.creates.is_none()
                && matches!(route.target, Target::Fresh(Make::Deal | Make::Invoice)) =>
        {
            Ok(None)
        }
        (_, "deal_id") => Ok(Some(Kind::Deal)),
        (_, "lead_id") => Ok(Some(Kind::Lead)),
        (_, "task_id") => Ok(Some(Kind::Task)),
        (
            _,
            "manager_id" | "assignee_id" | "to_manager_id" | "co_executor_ids" | "observer_ids",
        ) => Ok(Some(Kind::Manager)),
        (_, "pipeline_id" | "stage_id") => Ok(None),
        (None, "id") => route
            .creates
            .map(Some)
            .ok_or_else(|| "`id`: the table does not say what it creates".to_owned()),
        (Some("deal"), "id") => Ok(Some(Kind::Deal)),
        (Some("[]"), "id") if path.first().map(String::as_str) == Some("stages") => Ok(None),
        _ => Err(format!(
            "{}: a uuid the table does not know; say what it names in field_kind",
            path.join(".")
        )),
    }
}

/// A manager a request names: who he is and whether he is of North.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Who {
    id: Uuid,
    north: bool,
}

/// The standing entities of one manager.
#[derive(Debug, Clone, Copy)]
struct Standing {
    client: Uuid,
    deal: Uuid,
    lead: Uuid,
    task: Uuid,
    interaction: Uuid,
}

impl Standing {
    fn of(&self, kind: Kind, manager: Uuid) -> Uuid {
        match kind {
            Kind::Client => self.client,
            Kind::Deal => self.deal,
            Kind::Lead => self.lead,
            Kind::Task => self.task,
            Kind::Interaction => self.interaction,
            Kind::Manager => manager,
        }
    }

    fn all(&self) -> [Uuid; 5] {
        [
            self.client,
            self.deal,
            self.lead,
            self.task,
            self.interaction,
        ]
    }
}

/// A request ready to send, and what it names.
struct Request {
    method: Method,
    path: String,
    body: Option<Value>,
    named: Vec<Who>,
    /// A custom projection to drop afterwards.
    dropped: Option<String>,
}

/// The company, a second manager of South (Dmytro), each one's standing entities,
/// and the document.
struct Walk {
    c: Company,
    andriy: Who,
    bohdan: Who,
    ciril: Who,
    dmytro: Who,
    standing: BTreeMap<Uuid, Standing>,
    /// A product of the catalogue, for deal lines.
    product: Uuid,
    /// The line made for the last fresh deal with a line.
    line: Uuid,
    doc: Value,
    made: u32,
    /// Requests checked: allowed, refused.
    checked: std::cell::Cell<(usize, usize)>,
    /// Every answer that is not what the table says.
    wrong: std::cell::RefCell<Vec<String>>,
}

impl Walk {
    async fn new(pool: PgPool) -> Walk {
        let c = Company::new(pool, HiddenFields::default()).await;
        let dmytro = registered(&c.app, "Dmytro", "South", "manager").await;
        let who = |id, north| Who { id, north };
        let doc = c
            .app
            .send(Method::GET, "/openapi.json", None, None, &[])
            .await
            .body;
        let mut walk = Walk {
            andriy: who(c.andriy, true),
            bohdan: who(c.bohdan, true),
            ciril: who(c.ciril, false),
            dmytro: who(dmytro, false),
            c,
            standing: BTreeMap::new(),
            product: Uuid::nil(),
            line: Uuid::nil(),
            doc,
            made: 0,
            checked: Default::default(),
            wrong: Default::default(),
        };
        walk.product = walk
            .admin(
                Method::POST,
                "/products",
                json!({"name": "Pallet", "category": "Packaging"}),
            )
            .await;
        for owner in [walk.andriy, walk.bohdan, walk.ciril, walk.dmytro] {
            let client = walk.make_client(owner.id).await;
            let deal = walk.make_deal(owner.id, client).await;
            let lead = walk.make_lead(owner.id).await;
            let task = walk
                .admin(
                    Method::POST,
                    "/tasks",
                    json!({"title": "Standing", "assignee_id": owner.id, "due_at": "2026-01-03T09:00:00Z",
                           "client_id": client, "deal_id": deal}),
                )
                .await;
            let interaction = walk
                .admin(
                    Method::POST,
                    "/interactions",
                    json!({"kind": "call", "direction": "inbound", "manager_id": owner.id,
                           "client_id": client, "deal_id": deal, "lead_id": lead}),
                )
                .await;
            let standing = Standing {
                client,
                deal,
                lead,
                task,
                interaction,
            };
            walk.standing.insert(owner.id, standing);
        }
        let walker = walk
            .admin(
                Method::POST,
                "/managers",
                json!({"name": "Walker", "department": "South", "role": "manager", "email": WALKER_EMAIL}),
            )
            .await;
        walk.admin(
            Method::POST,
            &format!("/managers/{walker}/password"),
            json!({"password": WALKER_PASSWORD}),
        )
        .await;
        walk.admin(Method::POST, "/projections", definition(Some("walk")))
            .await;
        walk.c.settle().await;
        // The standing projection answers once its first build is done.
        crm_tests::retry(
            std::time::Duration::from_secs(30),
            |status: &StatusCode| [StatusCode::NOT_FOUND, StatusCode::CONFLICT].contains(status),
            || async {
                let answer = walk.c.app.get("/projections/walk/rows").await;
                match answer.status {
                    StatusCode::OK => Ok(()),
                    other => Err(other),
                }
            },
        )
        .await
        .unwrap();
        walk
    }

    /// Sends a command as the bootstrap admin; panics unless it succeeds. The id it
    /// answers with.
    async fn admin(&self, method: Method, path: &str, body: Value) -> Uuid {
        let answer = self
            .c
            .app
            .send(method, path, Some(ADMIN_TOKEN), Some(&body), &[])
            .await;
        assert!(answer.status.is_success(), "{path} {body}: {}", answer.body);
        answer.body["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .unwrap_or_default()
    }

    async fn make_client(&self, owner: Uuid) -> Uuid {
        self.admin(
            Method::POST,
            "/clients",
            json!({"name": "Fresh", "kind": "company", "manager_id": owner}),
        )
        .await
    }

    async fn make_deal(&self, owner: Uuid, client: Uuid) -> Uuid {
        self.admin(
            Method::POST,
            "/deals",
            json!({"client_id": client, "pipeline_id": self.c.pipeline, "title": "Fresh",
                   "amount": 100, "manager_id": owner}),
        )
        .await
    }

    async fn make_lead(&self, owner: Uuid) -> Uuid {
        self.admin(
            Method::POST,
            "/leads",
            json!({"source": "web", "name": "Fresh lead", "email": "lead@example.com", "manager_id": owner}),
        )
        .await
    }

    /// A new entity of `owner`'s, and who answers for it.
    async fn make(&mut self, make: Make, owner: Who) -> (Uuid, Who) {
        let id = match make {
            Make::Client => self.make_client(owner.id).await,
            Make::Deal | Make::WonDeal => {
                let client = self.standing[&owner.id].client;
                let deal = self.make_deal(owner.id, client).await;
                if let Make::WonDeal = make {
                    self.admin(Method::POST, &format!("/deals/{deal}/win"), json!({}))
                        .await;
                }
                deal
            }
            Make::DealWithLine | Make::Invoice => {
                let client = self.standing[&owner.id].client;
                let deal = self.make_deal(owner.id, client).await;
                if let Make::Invoice = make {
                    self.admin(
                        Method::POST,
                        &format!("/deals/{deal}/invoices"),
                        json!({"number": "INV-F", "amount": 100, "due_on": "2026-03-01"}),
                    )
                    .await
                } else {
                    self.line = self
                        .admin(
                            Method::POST,
                            &format!("/deals/{deal}/lines"),
                            json!({"product_id": self.product, "quantity": 1, "price": 5}),
                        )
                        .await;
                    deal
                }
            }
            Make::MergedClient => {
                let client = self.make_client(owner.id).await;
                let survivor = self.standing[&owner.id].client;
                self.admin(
                    Method::POST,
                    &format!("/clients/{client}/merge"),
                    json!({"into_client_id": survivor}),
                )
                .await;
                client
            }
            Make::Lead => self.make_lead(owner.id).await,
            Make::Task => {
                // Watched by Andriy (the manager's token) when it is someone else's:
                // an observer reads a task but does not change it, and neither does
                // his head through him.
                let observers: Vec<Uuid> = Some(self.andriy.id)
                    .filter(|andriy| *andriy != owner.id)
                    .into_iter()
                    .collect();
                self.admin(
                    Method::POST,
                    "/tasks",
                    json!({"title": "Fresh", "assignee_id": owner.id, "due_at": "2026-02-01T09:00:00Z",
                           "observer_ids": observers}),
                )
                .await
            }
            Make::Manager => {
                self.made += 1;
                let department = if owner.north { "North" } else { "South" };
                let name = format!("Leaving {}", self.made);
                // With an email: he may be given a password.
                let email = format!("leaving{}@example.com", self.made);
                let manager = self
                    .admin(
                        Method::POST,
                        "/managers",
                        json!({"name": name, "department": department, "role": "manager", "email": email}),
                    )
                    .await;
                self.make_client(manager).await;
                // A head's department comes from the managers' read model.
                self.c.settle().await;
                return (
                    manager,
                    Who {
                        id: manager,
                        north: owner.north,
                    },
                );
            }
        };
        (id, owner)
    }

    /// Another manager of `owner`'s department.
    fn mate(&self, owner: Who) -> Who {
        match owner {
            o if o == self.andriy => self.bohdan,
            o if o == self.bohdan => self.andriy,
            _ => self.dmytro,
        }
    }

    /// `template` with its placeholders filled for `owner`; what it named is added
    /// to `named`, and a projection name it made up to `dropped`.
    fn fill(
        &mut self,
        template: &Value,
        owner: Who,
        named: &mut Vec<Who>,
        dropped: &mut Option<String>,
    ) -> Value {
        match template {
            Value::String(s) if s.starts_with('$') => {
                let standing = self.standing[&owner.id];
                let (value, who) = match s.as_str() {
                    "$owner" => (json!(owner.id), Some(owner)),
                    "$mate" => {
                        let mate = self.mate(owner);
                        (json!(mate.id), Some(mate))
                    }
                    "$client" => (json!(standing.client), Some(owner)),
                    "$deal" => (json!(standing.deal), Some(owner)),
                    "$lead" => (json!(standing.lead), Some(owner)),
                    "$department" => (
                        json!(if owner.north { "North" } else { "South" }),
                        Some(owner),
                    ),
                    "$pipeline" => (json!(self.c.pipeline), None),
                    "$product" => (json!(self.product), None),
                    "$stage" => (json!(self.c.stages[1]), None),
                    "$unique" => {
                        self.made += 1;
                        let name = format!("walk_{}", self.made);
                        *dropped = Some(name.clone());
                        (json!(name), None)
                    }
                    other => panic!("unknown placeholder {other}"),
                };
                named.extend(who);
                value
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.fill(v, owner, named, dropped)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// The request `route` (at `key`) makes about what `owner` answers for.
    async fn request(&mut self, key: &str, route: &Route, owner: Who) -> Request {
        let (method, template) = key.split_once(' ').unwrap();
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut named = Vec::new();
        let mut dropped = None;
        let standing = self.standing[&owner.id];
        let mut path = template.to_owned();
        match route.target {
            Target::Nothing => {}
            Target::Fresh(make) => {
                let (id, who) = self.make(make, owner).await;
                path = path
                    .replace("{id}", &id.to_string())
                    .replace("{line_id}", &self.line.to_string());
                named.push(who);
            }
            Target::Standing(kind) => {
                path = path.replace("{id}", &standing.of(kind, owner.id).to_string());
                named.push(owner);
            }
            Target::ClientStream => {
                path = path.replace("{stream}", &format!("client-{}", standing.client));
                named.push(owner);
            }
            Target::StandingProjection => path = path.replace("{name}", "walk"),
            Target::FreshProjection => {
                self.made += 1;
                let name = format!("walk_{}", self.made);
                self.admin(Method::POST, "/projections", definition(Some(&name)))
                    .await;
                path = path.replace("{name}", &name);
                dropped = Some(name);
            }
            Target::BuiltinReadModel => path = path.replace("{name}", "deals"),
            Target::ThePipeline => path = path.replace("{id}", &self.c.pipeline.to_string()),
            Target::FreshRule => {
                let rule = self
                    .admin(
                        Method::POST,
                        "/automation/rules",
                        json!({"name": "Fresh", "kind": "task_reminder", "params": {"before_minutes": 10}}),
                    )
                    .await;
                path = path.replace("{id}", &rule.to_string());
            }
            Target::FreshWebhook => {
                let webhook = self
                    .admin(
                        Method::POST,
                        "/webhooks",
                        json!({"url": "http://127.0.0.1:9/hook", "secret": "sixteen chars at least"}),
                    )
                    .await;
                path = path.replace("{id}", &webhook.to_string());
            }
        }
        if !route.query.is_empty() {
            let query = route
                .query
                .replace("$pipeline", &self.c.pipeline.to_string());
            path = format!("{path}?{query}");
        }
        let body = route
            .body
            .clone()
            .map(|b| self.fill(&b, owner, &mut named, &mut dropped));
        if !route.scoped {
            named.clear();
        }
        Request {
            method,
            path,
            body,
            named,
            dropped,
        }
    }

    /// Does `role` (Andriy for a manager, Hanna for a head) reach `who`'s work?
    fn reaches(&self, role: Role, who: Who) -> bool {
        match role {
            Manager => who.id == self.andriy.id,
            Head => who.north,
            Director | Admin | Auditor | Analyst => true,
        }
    }

    fn token(&self, role: Role) -> &str {
        let t = &self.c.tokens;
        match role {
            Manager => &t.andriy,
            Head => &t.hanna,
            Director => &t.director,
            Admin => &t.admin,
            Auditor => &t.auditor,
            Analyst => &t.analyst,
        }
    }

    /// Ids no answer to `role` may hold: the entities out of his reach (managers
    /// are not among them: everyone reads the team).
    fn out_of_reach_ids(&self, role: Role) -> Vec<Uuid> {
        let c = &self.c;
        let (strangers, mut ids) = match role {
            Manager => (
                vec![self.bohdan, self.ciril, self.dmytro],
                vec![c.clients[1], c.deals[1], c.tasks[2]],
            ),
            Head => (vec![self.ciril, self.dmytro], vec![]),
            _ => return Vec::new(),
        };
        for who in strangers {
            ids.extend(self.standing[&who.id].all());
        }
        ids.extend([c.clients[2], c.deals[2], c.leads[1]]);
        ids
    }

    /// Sends `request` with `token` (none: without one).
    async fn send(&self, request: &Request, token: Option<&str>) -> Answer {
        self.c
            .app
            .send(
                request.method.clone(),
                &request.path,
                token,
                request.body.as_ref(),
                &[],
            )
            .await
    }

    /// Sends `request` as `role`: a 2xx when `allowed`, else a 403 that appends
    /// nothing; an answer to a manager or head names nothing out of his reach.
    async fn check(&self, what: &str, role: Role, request: &Request, allowed: bool) {
        let before = self.c.app.event_count().await;
        let answer = self.send(request, Some(self.token(role))).await;
        let seen = format!(
            "{what} as {role:?}: {} {} {:?} -> {} {}",
            request.method, request.path, request.body, answer.status, answer.body
        );
        let (ok, no) = self.checked.get();
        self.checked
            .set(if allowed { (ok + 1, no) } else { (ok, no + 1) });
        let after = self.c.app.event_count().await;
        let mut wrong = Vec::new();
        if allowed {
            if !answer.status.is_success() {
                wrong.push(format!("not allowed: {seen}"));
            }
            let text = answer.body.to_string();
            for id in self.out_of_reach_ids(role) {
                if text.contains(&id.to_string()) {
                    wrong.push(format!("names {id}, out of reach: {seen}"));
                }
            }
        } else {
            if answer.status != StatusCode::FORBIDDEN {
                wrong.push(format!("not refused: {seen}"));
            }
            if after != before {
                wrong.push(format!("appended {} events: {seen}", after - before));
            }
        }
        self.wrong.borrow_mut().extend(wrong);
        self.drop_projection(request).await;
    }

    /// Drops the custom projection `request` made (whatever came of it).
    async fn drop_projection(&self, request: &Request) {
        if let Some(name) = &request.dropped {
            self.c
                .app
                .send(
                    Method::DELETE,
                    &format!("/projections/{name}"),
                    Some(ADMIN_TOKEN),
                    None,
                    &[],
                )
                .await;
        }
    }

    /// The operation at `key` in the document.
    fn operation(&self, key: &str) -> &Value {
        let (method, path) = key.split_once(' ').unwrap();
        &self.doc["paths"][path][method.to_lowercase()]
    }

    /// `schema` with a `$ref` followed.
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(reference) => self
                .doc
                .pointer(reference.trim_start_matches('#'))
                .unwrap_or(&Value::Null),
            None => schema,
        }
    }

    /// Is `schema` a uuid (or null)?
    fn is_uuid(&self, schema: &Value) -> bool {
        let schema = self.resolve(schema);
        schema["format"] == "uuid"
            || ["oneOf", "anyOf"].iter().any(|k| {
                schema[*k]
                    .as_array()
                    .is_some_and(|subs| subs.iter().any(|s| self.is_uuid(s)))
            })
    }

    /// Every uuid field of `schema`, by its path (`[]` for an array's items).
    fn uuid_fields(&self, schema: &Value, path: Vec<String>, out: &mut Vec<Vec<String>>) {
        let schema = self.resolve(schema);
        for key in ["oneOf", "anyOf", "allOf"] {
            for sub in schema[key].as_array().into_iter().flatten() {
                self.uuid_fields(sub, path.clone(), out);
            }
        }
        for (name, field) in schema["properties"].as_object().into_iter().flatten() {
            let mut at = path.clone();
            at.push(name.clone());
            let field = self.resolve(field);
            if self.is_uuid(field) || self.is_uuid(&field["items"]) {
                if !out.contains(&at) {
                    out.push(at);
                }
            } else if !field["items"].is_null() {
                at.push("[]".into());
                self.uuid_fields(&field["items"], at, out);
            } else {
                self.uuid_fields(field, at, out);
            }
        }
    }

    /// The uuid fields of the operation's JSON body.
    fn body_uuid_fields(&self, key: &str) -> Vec<Vec<String>> {
        let schema = &self.operation(key)["requestBody"]["content"]["application/json"]["schema"];
        let mut out = Vec::new();
        self.uuid_fields(schema, Vec::new(), &mut out);
        out
    }

    /// The uuid query parameters of the operation.
    fn uuid_params(&self, key: &str) -> Vec<String> {
        self.operation(key)["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query" && self.is_uuid(&p["schema"]))
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect()
    }

    /// The managers out of `role`'s reach whose work a request may name.
    fn strangers(&self, role: Role) -> Vec<Who> {
        match role {
            Manager => vec![self.bohdan, self.ciril],
            Head => vec![self.ciril],
            _ => Vec::new(),
        }
    }
}

/// `value` set at `path` of `body` (an array field gets `[value]`).
fn set(body: &mut Value, path: &[String], value: Uuid, array: bool) {
    let mut at = body;
    for step in &path[..path.len() - 1] {
        if !at[step.as_str()].is_object() {
            at[step.as_str()] = json!({});
        }
        at = &mut at[step.as_str()];
    }
    let last = path[path.len() - 1].as_str();
    at[last] = if array { json!([value]) } else { json!(value) };
}

#[sqlx::test(migrations = false)]
async fn every_route_answers_each_role_as_the_contracts_roles_say(pool: PgPool) {
    let mut walk = Walk::new(pool).await;
    let table = table();

    // The table and the document name the same routes.
    let mut documented = Vec::new();
    for (path, item) in walk.doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                documented.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let missing: Vec<&String> = documented
        .iter()
        .filter(|k| !table.contains_key(k.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "routes of the document missing from the table of who may use them: {missing:?}"
    );
    let stale: Vec<&&str> = table
        .keys()
        .filter(|k| !documented.iter().any(|d| d == *k))
        .collect();
    assert!(
        stale.is_empty(),
        "routes of the table not served: {stale:?}"
    );

    // Without a token, or with a deactivated manager's: 401, nothing appended.
    let gone = registered(&walk.c.app, "Gone", "North", "head").await;
    let gone_token = token(&walk.c.app, Some(gone), "head").await;
    walk.admin(
        Method::POST,
        &format!("/managers/{gone}/deactivate"),
        json!({}),
    )
    .await;
    for (key, route) in &table {
        let request = walk.request(key, route, walk.andriy).await;
        let before = walk.c.app.event_count().await;
        let tokens: &[Option<&str>] = if route.public {
            &[None]
        } else {
            &[None, Some(&gone_token)]
        };
        for (n, token) in tokens.iter().enumerate() {
            let answer = walk.send(&request, *token).await;
            let expected = if route.public {
                StatusCode::OK
            } else {
                StatusCode::UNAUTHORIZED
            };
            if answer.status != expected {
                let who = ["no token", "a deactivated head's token"][n];
                walk.wrong.borrow_mut().push(format!(
                    "not {expected}: {key} with {who}: {} {}",
                    answer.status, answer.body
                ));
            }
        }
        if walk.c.app.event_count().await != before {
            walk.wrong
                .borrow_mut()
                .push(format!("{key} appended without a valid token"));
        }
        walk.drop_projection(&request).await;
    }

    // Queries first (they change nothing), on read models that reflect everything.
    walk.c.settle().await;
    let roles = [Manager, Head, Director, Admin, Auditor, Analyst];
    let owners = [walk.andriy, walk.bohdan, walk.ciril];
    for (key, route) in table
        .iter()
        .filter(|(k, r)| k.starts_with("GET ") && !r.public)
    {
        for role in roles {
            for owner in owners {
                let request = walk.request(key, route, owner).await;
                let allowed = route.roles.contains(&role)
                    && request.named.iter().all(|w| walk.reaches(role, *w));
                walk.check(key, role, &request, allowed).await;
            }
            // Each uuid parameter naming what is out of reach: refused, or an
            // answer that shows nothing out of reach (checked by `check`).
            if !route.roles.contains(&role) {
                continue;
            }
            for param in walk.uuid_params(key) {
                let kind = match field_kind(route, std::slice::from_ref(&param)) {
                    Ok(Some(kind)) => kind,
                    Ok(None) => continue,
                    Err(unknown) => panic!("{key}: {unknown}"),
                };
                for stranger in walk.strangers(role) {
                    let value = walk.standing[&stranger.id].of(kind, stranger.id);
                    let mut request = walk.request(key, route, walk.andriy).await;
                    let sep = if request.path.contains('?') { '&' } else { '?' };
                    request.path = format!("{}{sep}{param}={value}", request.path);
                    let answer = walk.send(&request, Some(walk.token(role))).await;
                    if answer.status != StatusCode::FORBIDDEN {
                        walk.check(&format!("{key} ?{param}"), role, &request, true)
                            .await;
                    }
                }
            }
        }
    }

    // Commands.
    for (key, route) in table.iter().filter(|(k, _)| !k.starts_with("GET ")) {
        for role in roles {
            let owners: &[Who] = if route.scoped { &owners } else { &owners[..1] };
            for owner in owners {
                let request = walk.request(key, route, *owner).await;
                let allowed = route.roles.contains(&role)
                    && request.named.iter().all(|w| walk.reaches(role, *w));
                walk.check(key, role, &request, allowed).await;
            }
        }
        // Each reference field of the body naming what is out of reach, the rest
        // within it: refused, nothing appended.
        if !route.scoped {
            continue;
        }
        for path in walk.body_uuid_fields(key) {
            let kind = match field_kind(route, &path) {
                Ok(Some(kind)) => kind,
                Ok(None) => continue,
                Err(unknown) => panic!("{key}: {unknown}"),
            };
            let array = path.last().is_some_and(|f| f.ends_with("_ids"));
            for role in [Manager, Head] {
                if !route.roles.contains(&role) {
                    continue;
                }
                for stranger in walk.strangers(role) {
                    let value = walk.standing[&stranger.id].of(kind, stranger.id);
                    let mut request = walk.request(key, route, walk.andriy).await;
                    set(
                        request.body.get_or_insert_with(|| json!({})),
                        &path,
                        value,
                        array,
                    );
                    let what = format!("{key} with {} out of reach", path.join("."));
                    walk.check(&what, role, &request, false).await;
                }
            }
        }
    }
    let wrong = walk.wrong.borrow();
    assert!(
        wrong.is_empty(),
        "{} answers are not what the table says:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    let (allowed, refused) = walk.checked.get();
    println!(
        "{} routes: {allowed} requests allowed and {refused} refused as the table says",
        table.len()
    );
}

/// The status, code and detail of an answer: what a caller learns from it.
fn learned(answer: &Answer) -> (StatusCode, String, String) {
    (
        answer.status,
        answer.code().to_owned(),
        answer.body["detail"].as_str().unwrap_or("").to_owned(),
    )
}

#[sqlx::test(migrations = false)]
async fn an_out_of_reach_callers_answer_does_not_depend_on_the_entitys_values(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let t = &c.tokens;
    let [_, cb, cc] = c.clients;
    let [_, db, dc] = c.deals;
    // A task of Ciril's that nobody of North observes, due 2026-01-02 09:00.
    let answer = c
        .app
        .post(
            "/tasks",
            &json!({"title": "Hidden", "assignee_id": c.ciril, "due_at": "2026-01-02T09:00:00Z"}),
        )
        .await;
    let task = crm_tests::scenario::response_id(&answer, StatusCode::CREATED, "task", 1);
    // Each pair: the right guess of a value (which the domain would answer with a
    // 422 or a 200 to someone who reaches it) and a wrong one.
    let contacts = |name: &str| {
        json!({"contacts": [{"name": format!("{name} Boss"), "phone": "+380501112233",
                             "email": "boss@example.com"}]})
    };
    let pairs = |client: Uuid, name: &str, deal: Uuid, amount: i64, owner: Uuid| {
        vec![
            (
                Method::PATCH,
                format!("/clients/{client}"),
                json!({"name": name}),
                json!({"name": "Wrong"}),
            ),
            (
                Method::PATCH,
                format!("/clients/{client}"),
                contacts(name),
                contacts("Wrong"),
            ),
            (
                Method::PATCH,
                format!("/clients/{client}"),
                json!({"manager_id": owner}),
                json!({"manager_id": c.andriy}),
            ),
            (
                Method::POST,
                format!("/deals/{deal}/amount"),
                json!({"amount": amount}),
                json!({"amount": amount + 1}),
            ),
            (
                Method::POST,
                format!("/deals/{deal}/stage"),
                json!({"stage_id": c.stages[0]}),
                json!({"stage_id": c.stages[1]}),
            ),
            (
                Method::POST,
                format!("/deals/{deal}/assign"),
                json!({"manager_id": owner}),
                json!({"manager_id": c.andriy}),
            ),
            (
                Method::POST,
                format!("/deals/{deal}/reopen"),
                json!({}),
                json!({"stage_id": c.stages[1]}),
            ),
        ]
    };
    let mut cases: Vec<(&str, _)> = Vec::new();
    for pair in pairs(cc, "Gamma", dc, 3000, c.ciril) {
        cases.push((&t.andriy, pair.clone()));
        cases.push((&t.hanna, pair));
    }
    for pair in pairs(cb, "Beta", db, 2000, c.bohdan) {
        cases.push((&t.andriy, pair));
    }
    for token in [&t.andriy, &t.hanna] {
        cases.push((
            token,
            (
                Method::POST,
                format!("/tasks/{task}/reschedule"),
                json!({"due_at": "2026-01-02T09:00:00Z"}),
                json!({"due_at": "2026-01-03T09:00:00Z"}),
            ),
        ));
    }
    let before = c.app.event_count().await;
    for (token, (method, path, right, wrong)) in cases {
        let app = &c.app;
        let right_answer = app
            .send(method.clone(), &path, Some(token), Some(&right), &[])
            .await;
        let wrong_answer = app
            .send(method, &path, Some(token), Some(&wrong), &[])
            .await;
        assert_eq!(
            right_answer.status,
            StatusCode::FORBIDDEN,
            "{path} {right}: {}",
            right_answer.body
        );
        assert_eq!(
            learned(&right_answer),
            learned(&wrong_answer),
            "{path}: the answer tells a right guess from a wrong one"
        );
    }
    assert_eq!(c.app.event_count().await, before);
    // An id nobody has used: 404 for anyone (it tells only that the id is unknown).
    let unknown = Uuid::new_v4();
    let answer = c
        .app
        .send(
            Method::PATCH,
            &format!("/clients/{unknown}"),
            Some(&t.andriy),
            Some(&json!({"name": "X"})),
            &[],
        )
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.body);
}

/// The data of the last event of `stream`, read as the admin.
async fn last_event(c: &Company, stream: &str) -> Value {
    let events = crm_tests::scenario::events(&c.app, stream).await;
    events.last().unwrap()["data"].clone()
}

/// The manager of the client `id`, as its stream's state says to `token`.
async fn client_manager(c: &Company, token: &str, id: &str) -> Value {
    let answer = c
        .get_raw(token, &format!("/streams/client-{id}/state"))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["state"]["manager_id"].clone()
}

#[sqlx::test(migrations = false)]
async fn a_manager_or_head_converts_a_lead_into_a_new_client_of_its_manager(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let t = &c.tokens;
    let deal = json!({"deal": {"pipeline_id": c.pipeline, "title": "Converted", "amount": 50}});
    // Andriy converts his own lead, a head a lead of Bohdan's: each time a new
    // client of the lead's manager, and a deal on it.
    let olena = json!({"source": "web", "name": "Olena", "manager_id": c.bohdan});
    let of_bohdan = crm_tests::scenario::response_id(
        &c.app.post("/leads", &olena).await,
        StatusCode::CREATED,
        "lead",
        2,
    );
    for (token, lead, manager) in [
        (&t.andriy, c.leads[0], c.andriy),
        (&t.hanna, of_bohdan, c.bohdan),
    ] {
        let answer = c
            .post(token, &format!("/leads/{lead}/convert"), deal.clone())
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let converted = last_event(&c, &format!("lead-{lead}")).await;
        let client = converted["client_id"].as_str().unwrap();
        assert_eq!(client_manager(&c, token, client).await, json!(manager));
    }
    // A lead of Andriy's captured for Ciril's client: converting it without naming a
    // client would open the deal on Ciril's client, out of Andriy's reach.
    let answer = c
        .app
        .post(
            "/leads",
            &json!({"source": "web", "name": "Petro", "manager_id": c.andriy, "client_id": c.clients[2]}),
        )
        .await;
    let lead = crm_tests::scenario::response_id(&answer, StatusCode::CREATED, "lead", 2);
    let before = c.app.event_count().await;
    let answer = c
        .post(&t.andriy, &format!("/leads/{lead}/convert"), deal)
        .await;
    crm_tests::company::forbidden(&answer, "out_of_reach");
    assert_eq!(c.app.event_count().await, before);
}

#[sqlx::test(migrations = false)]
async fn a_head_hands_over_a_leaving_managers_book_but_not_what_left_his_department(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let leaving = registered(&c.app, "Leaving", "North", "manager").await;
    let kept = crm_tests::scenario::client(&c.app, leaving).await;
    let gone = crm_tests::scenario::client(&c.app, leaving).await;
    // One of his clients went to South since.
    let answer = c
        .app
        .post(
            &format!("/clients/{gone}/assign"),
            &json!({"manager_id": c.ciril}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    c.settle().await;
    let answer = c
        .post(
            &c.tokens.hanna,
            &format!("/managers/{leaving}/handover"),
            json!({"to_manager_id": c.andriy}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let admin = ADMIN_TOKEN;
    assert_eq!(
        client_manager(&c, admin, &kept.to_string()).await,
        json!(c.andriy)
    );
    assert_eq!(
        client_manager(&c, admin, &gone.to_string()).await,
        json!(c.ciril)
    );
    // Handing it to South is out of her reach.
    let before = c.app.event_count().await;
    let answer = c
        .post(
            &c.tokens.hanna,
            &format!("/managers/{leaving}/handover"),
            json!({"to_manager_id": c.ciril}),
        )
        .await;
    crm_tests::company::forbidden(&answer, "out_of_reach");
    assert_eq!(c.app.event_count().await, before);
}

#[sqlx::test(migrations = false)]
async fn a_head_registers_managers_into_his_department_and_gives_no_other_role(pool: PgPool) {
    let c = Company::new(pool, HiddenFields::default()).await;
    let t = &c.tokens;
    let member = |department: &str, role: &str| json!({"name": "New", "department": department, "role": role});
    // A manager of North: registered at once (the team's read model does not have him
    // yet), and of Hanna's reach once it does.
    let answer = c
        .post(&t.hanna, "/managers", member("North", "manager"))
        .await;
    let olha = crm_tests::scenario::response_id(&answer, StatusCode::CREATED, "manager", 1);
    let position = answer.body["position"].as_i64().unwrap();
    let read = c
        .get_raw(
            &t.hanna,
            &format!("/managers/{olha}?min_position={position}"),
        )
        .await;
    assert_eq!(
        (&read.body["department"], &read.body["role"]),
        (&json!("North"), &json!("manager")),
        "{}",
        read.body
    );
    let answer = c
        .post(
            &t.hanna,
            "/clients",
            json!({"name": "Olha's", "kind": "person", "manager_id": olha}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);

    // Another department, any other role, or a fellow head (herself included): 403,
    // nothing appended.
    let halyna = registered(&c.app, "Halyna", "North", "head").await;
    c.settle().await;
    let before = c.app.event_count().await;
    let answer = c
        .post(&t.hanna, "/managers", member("South", "manager"))
        .await;
    crm_tests::company::forbidden(&answer, "out_of_reach");
    for role in ["head", "director", "admin", "auditor", "analyst"] {
        let answer = c.post(&t.hanna, "/managers", member("North", role)).await;
        crm_tests::company::forbidden(&answer, "forbidden");
    }
    for head in [halyna, c.hanna] {
        let path = format!("/managers/{head}/deactivate");
        crm_tests::company::forbidden(&c.post(&t.hanna, &path, json!({})).await, "forbidden");
    }
    assert_eq!(c.app.event_count().await, before);

    // She deactivates the manager she registered; a director registers a head anywhere.
    let answer = c
        .post(&t.hanna, &format!("/managers/{olha}/deactivate"), json!({}))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let answer = c
        .post(&t.director, "/managers", member("South", "head"))
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
}
