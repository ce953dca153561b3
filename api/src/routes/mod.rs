//! The HTTP routes, collected with their OpenAPI descriptions.

mod cached;
mod client_merges;
mod client_queries;
mod clients;
mod custom_projections;
mod deal_lines;
mod deals;
mod doc_types;
mod erasure;
mod health;
mod interaction_queries;
mod interactions;
mod invoices;
mod lead_queries;
mod leads;
mod log;
mod login;
mod manager_queries;
mod managers;
mod pipeline_queries;
mod pipelines;
mod plans;
mod problems;
mod product_queries;
mod products;
mod projections;
mod report_rows;
pub(crate) mod reports;
mod rule_queries;
mod rules;
mod shipments;
pub(crate) mod streams;
mod task_queries;
mod tasks;
mod webhooks;

use axum::routing::get;
use axum::Router;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// 201 Created with a command's response.
pub(crate) fn created(
    response: crate::commands::CommandResponse,
) -> (
    axum::http::StatusCode,
    axum::Json<crate::commands::CommandResponse>,
) {
    (axum::http::StatusCode::CREATED, axum::Json(response))
}
pub use cached::cacheable;
pub use problems::{refusals, Problem, PROBLEM_JSON, REFUSALS};

#[derive(OpenApi)]
#[openapi(
    info(title = "crm", description = "The event-sourced CRM core: commands, queries and the log."),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// Declares the bearer token scheme every authenticated route uses, and the session
/// cookie a browser uses instead (`crate::login`).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::login::session::COOKIE,
                "The session cookie of POST /auth/login: acts as a bearer token of its \
                 manager; a write with it also carries X-CSRF-Token.",
            ))),
        );
    }
}

/// Every route with its state, and `GET /openapi.json` describing them all.
pub fn router(state: AppState) -> Router {
    let (router, mut api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(health::live))
        .routes(routes!(streams::stream_events))
        .routes(routes!(streams::state))
        .routes(routes!(log::feed))
        .routes(routes!(log::verify))
        .routes(routes!(log::export_events))
        .routes(routes!(projections::list))
        .routes(routes!(projections::rebuild))
        .routes(routes!(custom_projections::define))
        .routes(routes!(custom_projections::get))
        .routes(routes!(custom_projections::redefine))
        .routes(routes!(custom_projections::drop))
        .routes(routes!(custom_projections::rows))
        .routes(routes!(erasure::erase_client))
        .routes(routes!(erasure::erase_lead))
        .routes(routes!(managers::register))
        .routes(routes!(managers::deactivate))
        .routes(routes!(managers::handover))
        .routes(routes!(login::set_password))
        .routes(routes!(login::login))
        .routes(routes!(login::logout))
        .routes(routes!(login::current))
        .routes(routes!(pipelines::define))
        .routes(routes!(deals::open))
        .routes(routes!(deals::get))
        .routes(routes!(deals::list))
        .routes(routes!(reports::deals::funnel))
        .routes(routes!(reports::deals::forecast))
        .routes(routes!(reports::deals::overdue_deals))
        .routes(routes!(reports::deals::loss_reasons))
        .routes(routes!(reports::deals::revenue))
        .routes(routes!(reports::deals::conversion))
        .routes(routes!(reports::team::overdue_tasks))
        .routes(routes!(reports::leads::overdue_leads))
        .routes(routes!(reports::leads::leads))
        .routes(routes!(reports::team::managers))
        .routes(routes!(reports::team::figure_events))
        .routes(routes!(reports::team::task_people))
        .routes(routes!(task_queries::list))
        .routes(routes!(task_queries::get))
        .routes(routes!(deals::change_stage))
        .routes(routes!(deals::change_amount))
        .routes(routes!(deals::assign))
        .routes(routes!(deals::win))
        .routes(routes!(deals::lose))
        .routes(routes!(deals::reopen))
        .routes(routes!(clients::register))
        .routes(routes!(clients::update))
        .routes(routes!(clients::assign))
        .routes(routes!(client_queries::card))
        .routes(routes!(client_queries::list))
        .routes(routes!(client_queries::timeline))
        .routes(routes!(client_queries::duplicates))
        .routes(routes!(leads::capture))
        .routes(routes!(leads::assign))
        .routes(routes!(leads::reject))
        .routes(routes!(leads::convert))
        .routes(routes!(tasks::schedule))
        .routes(routes!(tasks::reschedule))
        .routes(routes!(tasks::assign))
        .routes(routes!(tasks::complete))
        .routes(routes!(tasks::cancel))
        .routes(routes!(interactions::log))
        .routes(routes!(manager_queries::list))
        .routes(routes!(manager_queries::get))
        .routes(routes!(manager_queries::day))
        .routes(routes!(pipeline_queries::list))
        .routes(routes!(pipeline_queries::get))
        .routes(routes!(lead_queries::list))
        .routes(routes!(lead_queries::get))
        .routes(routes!(interaction_queries::list))
        .routes(routes!(interaction_queries::get))
        .routes(routes!(rules::define))
        .routes(routes!(rules::disable))
        .routes(routes!(rule_queries::list))
        .routes(routes!(webhooks::define))
        .routes(routes!(webhooks::list))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::disable))
        .routes(routes!(webhooks::enable))
        // The sales department's business (issue 18).
        .routes(routes!(products::define))
        .routes(routes!(product_queries::list))
        .routes(routes!(reports::sales::invoices))
        .routes(routes!(reports::sales::plans))
        .routes(routes!(deal_lines::add))
        .routes(routes!(deal_lines::remove))
        .routes(routes!(invoices::issue))
        .routes(routes!(invoices::pay))
        .routes(routes!(shipments::send))
        .routes(routes!(plans::set))
        .routes(routes!(client_merges::merge))
        .routes(routes!(client_merges::unmerge))
        .with_state(state.clone())
        .split_for_parts();
    // The document describes itself too: every route served is in it.
    api.paths.add_path_operation(
        "/openapi.json",
        vec![utoipa::openapi::HttpMethod::Get],
        utoipa::openapi::path::OperationBuilder::new()
            .operation_id(Some("openapi"))
            .tag("health")
            .summary(Some("This OpenAPI document."))
            .response(
                "200",
                utoipa::openapi::ResponseBuilder::new()
                    .description("the document")
                    .content(
                        "application/json",
                        utoipa::openapi::content::ContentBuilder::new()
                            .schema(Some(utoipa::openapi::ObjectBuilder::new()))
                            .build(),
                    ),
            )
            .build(),
    );
    // After the routes are in: the layers' errors are declared on each of them, and
    // read-your-writes on every query.
    problems::ProblemResponses.modify(&mut api);
    crate::read_model::MinPositionDoc.modify(&mut api);
    crate::answers::EtagDoc.modify(&mut api);
    let document = axum::Json(api);
    // Tags, 304 and the answer cache on the routes `cacheable` names (innermost:
    // after the limits, the idempotency layer and the rest).
    let router = router.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        crate::answers::layer,
    ));
    let router = router
        .route(
            "/openapi.json",
            get(move || async move { document.clone() }),
        )
        // Last: it applies to the routes added so far.
        .method_not_allowed_fallback(crate::every_error::wrong_method)
        .fallback(crate::every_error::no_route);
    // The web app (`/`, `/ui/…`): its entity pages ask the API's router in process.
    router.clone().merge(crate::webapp::router(state, router))
}
