//! Invoices of a deal and their payments (issue 18).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use crm_domain::deal::DealState;
use crm_domain::invoice::{InvoiceCommand, InvoiceState, IssueInvoice};
use crm_domain::{Aggregate, EntityKind};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::commands::{execute, CommandContext, CommandResponse, Decision};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::routes::created;
use crate::state::AppState;

/// `POST /deals/{id}/invoices`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueInvoiceBody {
    /// The invoice's id (creation is then idempotent by id); default: a new one.
    id: Option<Uuid>,
    /// Its number, as printed.
    #[schema(max_length = 200)]
    number: String,
    /// Its amount, minor units, positive (`zero_amount`), at most 10^15.
    #[serde(deserialize_with = "crate::extract::whole::required")]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    amount: i64,
    /// The day it is due.
    due_on: NaiveDate,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Issues an invoice for a deal (the deal's reach governs it).
#[utoipa::path(
    operation_id = "issue_invoice", post, path = "/deals/{id}/invoices", tag = "invoices", request_body = IssueInvoiceBody,
    params(("id" = Uuid, Path)),
    responses((status = 201, body = CommandResponse), (status = 400), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn issue(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(deal_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<IssueInvoiceBody>,
) -> Result<(StatusCode, Json<CommandResponse>), ApiError> {
    let id = body.id.unwrap_or_else(|| ctx.new_id());
    let response = execute(
        &state.commands,
        &ctx,
        (EntityKind::Invoice, id),
        body.occurred_at,
        |mut loader| {
            let body = body.clone();
            async move {
                let invoice: InvoiceState = loader.load(EntityKind::Invoice, id).await?;
                let deal = loader.reference(EntityKind::Deal, deal_id).await?;
                let events = invoice.decide(InvoiceCommand::Issue(IssueInvoice {
                    invoice_id: id,
                    deal,
                    number: body.number,
                    amount: body.amount,
                    due_on: body.due_on,
                }))?;
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await?;
    Ok(created(response))
}

/// `POST /invoices/{id}/payments`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentBody {
    /// The payment's id (the same payment again is a retry); default: a new one.
    id: Option<Uuid>,
    /// The amount paid, minor units: positive (`zero_amount`), at most what is
    /// outstanding (`payment_exceeds_outstanding`).
    #[serde(deserialize_with = "crate::extract::whole::required")]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    amount: i64,
    /// The day it was paid.
    paid_on: NaiveDate,
    /// Business time of the fact; default: now.
    occurred_at: Option<DateTime<Utc>>,
}

/// Records a payment of an invoice; the answer's `id` is the invoice's.
#[utoipa::path(
    operation_id = "receive_payment", post, path = "/invoices/{id}/payments", tag = "invoices", request_body = PaymentBody,
    params(("id" = Uuid, Path)),
    responses((status = 201, body = CommandResponse), (status = 400), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn pay(
    State(state): State<AppState>,
    ctx: CommandContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PaymentBody>,
) -> Result<(StatusCode, Json<CommandResponse>), ApiError> {
    let payment_id = body.id.unwrap_or_else(|| ctx.new_id());
    let response = execute(
        &state.commands,
        &ctx,
        (EntityKind::Invoice, id),
        body.occurred_at,
        |mut loader| {
            let body = body.clone();
            async move {
                let invoice: InvoiceState = loader.load(EntityKind::Invoice, id).await?;
                // The deal's reach governs its invoices: checked before deciding.
                if let Some(invoice) = &invoice.invoice {
                    let _: DealState = loader.load(EntityKind::Deal, invoice.deal_id).await?;
                }
                let events = invoice.decide(InvoiceCommand::Pay {
                    invoice_id: id,
                    payment_id,
                    amount: body.amount,
                    paid_on: body.paid_on,
                })?;
                Ok(Decision::new(loader, events))
            }
        },
    )
    .await?;
    Ok(created(response))
}
