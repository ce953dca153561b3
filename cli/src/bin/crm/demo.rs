//! `crm demo`: a short story told through the event log.

use anyhow::Context;
use chrono::{Duration, Utc};
use crm_eventlog::{
    Cursor, EventLog, EventLogError, ExpectedVersion, FeedFilter, NewEvent, StreamAppend,
};
use serde_json::json;
use uuid::Uuid;

/// Appends a lead's life to the log, reads it back through the feed and verifies it.
pub async fn run(log: &EventLog) -> anyhow::Result<()> {
    let mut sub = log.subscribe(Cursor::start(), FeedFilter::default());
    drain(&mut sub).await?;

    let (manager, lead, client, deal) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    let day = |d| Utc::now() - Duration::days(d);
    log.append(
        &format!("manager-{manager}"),
        ExpectedVersion::NoStream,
        vec![NewEvent::new(
            "ManagerRegistered",
            json!({"manager_id": manager, "name": "Olena", "department": "Wholesale", "role": "manager"}),
        )
        .occurred_at(day(10))],
    )
    .await?;
    // Personal values (the lead's and the client's name) are stored encrypted.
    crm_api::personal::append(
        log,
        vec![StreamAppend::new(
            format!("lead-{lead}"),
            ExpectedVersion::NoStream,
            vec![
                NewEvent::new("LeadCaptured", json!({"lead_id": lead, "source": "website", "name": "Ivan", "received_at": day(3)}))
                    .occurred_at(day(3)),
                NewEvent::new("LeadAssigned", json!({"lead_id": lead, "manager_id": manager})).occurred_at(day(3)),
            ],
        )],
    )
    .await?;
    // Converting the lead is one fact over three streams: all of it or nothing.
    let converted = crm_api::personal::append(
        log,
        vec![
            StreamAppend::new(
                format!("lead-{lead}"),
                ExpectedVersion::Exact(2),
                vec![NewEvent::new("LeadConverted", json!({"lead_id": lead, "client_id": client, "deal_id": deal}))],
            ),
            StreamAppend::new(
                format!("client-{client}"),
                ExpectedVersion::NoStream,
                vec![NewEvent::new(
                    "ClientRegistered",
                    json!({"client_id": client, "name": "Ivan", "kind": "person", "manager_id": manager, "contacts": []}),
                )],
            ),
            StreamAppend::new(
                format!("deal-{deal}"),
                ExpectedVersion::NoStream,
                vec![NewEvent::new(
                    "DealOpened",
                    json!({"deal_id": deal, "client_id": client, "title": "First order", "amount": 1_250_000, "manager_id": manager}),
                )],
            ),
        ],
    )
    .await?;
    println!(
        "lead converted in one transaction: {} events, last at position {}",
        converted.events.len(),
        converted.last_position()
    );

    // Two people move the same deal at once: the one with the stale version loses.
    let stale = log
        .append(
            &format!("deal-{deal}"),
            ExpectedVersion::NoStream,
            vec![NewEvent::new(
                "DealWon",
                json!({"deal_id": deal, "amount": 1_250_000}),
            )],
        )
        .await;
    match stale {
        Err(EventLogError::Conflict { actual, .. }) => {
            println!("a stale command was refused: the deal is at version {actual}")
        }
        other => anyhow::bail!("expected a conflict, got {other:?}"),
    }
    log.append(
        &format!("deal-{deal}"),
        ExpectedVersion::Exact(1),
        vec![NewEvent::new(
            "DealWon",
            json!({"deal_id": deal, "amount": 1_250_000}),
        )],
    )
    .await?;

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
