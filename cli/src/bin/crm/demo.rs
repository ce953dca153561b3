//! `crm demo`: a short story told through the event log, each step a command run
//! like the API runs it (`crm_api::commands::execute`).

use anyhow::Context;
use chrono::{Duration, Utc};
use crm_api::access::{Actor, Role};
use crm_api::commands::{execute, CommandContext, CommandError, Commands, Decision};
use crm_domain::conversion::ConvertLead;
use crm_domain::deal::{DealCommand, DealState};
use crm_domain::lead::{CaptureLead, LeadCommand, LeadState};
use crm_domain::manager::{ManagerCommand, ManagerState};
use crm_domain::pipeline::{PipelineCommand, PipelineState};
use crm_domain::values::{ClientKind, Stage};
use crm_domain::{Aggregate, EntityKind, Ref};
use crm_eventlog::{Cursor, EventLog, Source};
use uuid::Uuid;

/// Runs a lead's life through the command path, reads it back through the feed and
/// verifies it.
pub async fn run(log: &EventLog) -> anyhow::Result<()> {
    let mut sub = log.subscribe(Cursor::start(), crm_eventlog::FeedFilter::default());
    drain(&mut sub).await?;

    let commands = Commands::new(log.clone());
    let admin = Actor {
        manager_id: None,
        role: Role::Admin,
    };
    let who = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let mut ctx = CommandContext::new(admin, Source::Api);
    ctx.actor_label = Some(format!("cli:{who}"));
    let (manager, pipeline, stage, lead, client, deal) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    let day = |d| Some(Utc::now() - Duration::days(d));

    execute(
        &commands,
        &ctx,
        (EntityKind::Manager, manager),
        day(10),
        |mut loader| async move {
            let state: ManagerState = loader.load(EntityKind::Manager, manager).await?;
            let events = state.decide(ManagerCommand::Register {
                manager_id: manager,
                name: "Olena".into(),
                email: None,
                department: "Wholesale".into(),
                role: Role::Manager,
            })?;
            Ok(Decision::new(loader, events))
        },
    )
    .await?;
    execute(
        &commands,
        &ctx,
        (EntityKind::Pipeline, pipeline),
        day(10),
        |mut loader| async move {
            let state: PipelineState = loader.load(EntityKind::Pipeline, pipeline).await?;
            let events = state.decide(PipelineCommand::Define {
                pipeline_id: pipeline,
                name: "Sales".into(),
                stages: vec![Stage {
                    stage_id: stage,
                    name: "New".into(),
                    probability: 0.2,
                }],
            })?;
            Ok(Decision::new(loader, events))
        },
    )
    .await?;
    // Personal values (the lead's and the client's name) are stored encrypted.
    let received_at = Utc::now() - Duration::days(3);
    execute(
        &commands,
        &ctx,
        (EntityKind::Lead, lead),
        day(3),
        |mut loader| async move {
            let state: LeadState = loader.load(EntityKind::Lead, lead).await?;
            let olena = Ref::new(manager, loader.load(EntityKind::Manager, manager).await?);
            let events = state.decide(LeadCommand::Capture(CaptureLead {
                lead_id: lead,
                source: "website".into(),
                channel: None,
                name: "Ivan".into(),
                phone: None,
                email: None,
                client: None,
                manager: Some(olena),
                received_at,
            }))?;
            Ok(Decision::new(loader, events))
        },
    )
    .await?;
    // Converting the lead is one fact over three streams: all of it or nothing.
    let converted = execute(
        &commands,
        &ctx,
        (EntityKind::Lead, lead),
        None,
        |mut loader| async move {
            let state: LeadState = loader.load(EntityKind::Lead, lead).await?;
            let olena: ManagerState = loader.load(EntityKind::Manager, manager).await?;
            loader.fresh::<crm_domain::client::ClientState>(EntityKind::Client, client);
            loader.fresh::<DealState>(EntityKind::Deal, deal);
            let sales = Ref::new(pipeline, loader.load_pipeline(pipeline).await?);
            let events = state.decide(LeadCommand::Convert(ConvertLead {
                lead_id: lead,
                client: None,
                new_client_id: client,
                new_client_kind: ClientKind::Person,
                manager: olena,
                deal_id: deal,
                pipeline: sales,
                stage_id: None,
                title: "First order".into(),
                amount: 1_250_000,
                expected_close_on: None,
            }))?;
            Ok(Decision::new(loader, events))
        },
    )
    .await?;
    println!(
        "lead converted in one transaction: the lead at version {}, last event at position {}",
        converted.version, converted.position
    );

    // Someone who saw the deal before it was opened wins it: his stale version loses.
    let win = |mut loader: crm_api::commands::Loader| async move {
        let state: DealState = loader.load(EntityKind::Deal, deal).await?;
        let events = state.decide(DealCommand::Win {
            deal_id: deal,
            amount: Some(1_250_000),
        })?;
        Ok(Decision::new(loader, events))
    };
    let mut stale = ctx.clone();
    stale.if_match = Some(0);
    match execute(&commands, &stale, (EntityKind::Deal, deal), None, win).await {
        Err(CommandError::VersionConflict { current, .. }) => {
            println!("a stale command was refused: the deal is at version {current}")
        }
        other => anyhow::bail!("expected a conflict, got {other:?}"),
    }
    execute(&commands, &ctx, (EntityKind::Deal, deal), None, win).await?;

    println!("\nthe feed, as a projector sees it:");
    let events = tokio::time::timeout(std::time::Duration::from_secs(10), sub.next_batch(100))
        .await
        .context("waiting for the feed")??;
    for e in &events {
        println!(
            "  #{:<6} {:<48} v{:<2} {:<18} {}",
            e.position,
            e.stream,
            e.version,
            e.event_type,
            e.occurred_at.format("%Y-%m-%d %H:%M")
        );
    }

    let report = log.verify().await?;
    println!(
        "\nhash chains: {} streams, {} events, {}",
        report.streams,
        report.events,
        if report.is_intact() {
            "intact"
        } else {
            "BROKEN"
        }
    );
    Ok(())
}

/// Skips what earlier runs appended, so the demo shows only its own events.
async fn drain(sub: &mut crm_eventlog::Subscription) -> anyhow::Result<()> {
    while let Ok(batch) = tokio::time::timeout(
        std::time::Duration::from_millis(200),
        sub.next_batch(10_000),
    )
    .await
    {
        batch?;
    }
    Ok(())
}
