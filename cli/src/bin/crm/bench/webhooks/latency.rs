//! Delivery latency: calls logged through the real server (`POST /interactions`) at
//! a steady rate, and for each the time from its answer to its event's first arrival
//! at the webhook's receiver; beside it, in the same run, the time from the answer to
//! a feed subscriber seeing the event (the feed's own notification, which the
//! deliverer waits on too), and the command's own latency.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crm_eventlog::{EventLog, FeedFilter};
use hdrhistogram::Histogram;
use serde_json::json;

use super::super::measure::{millis, new_histogram, record};
use super::super::web::Web;
use super::receiver::Receiver;
use super::Options;

/// The latencies' table, for one webhook `hook` being delivered.
pub async fn measure(
    web: &Web,
    log: &EventLog,
    receiver: &Receiver,
    hook: &str,
    opts: &Options,
) -> anyhow::Result<String> {
    let manager = web
        .post(
            "/managers",
            &json!({"name": "Bench Caller", "department": "Bench", "role": "manager"}),
        )
        .await?;
    let client = web
        .post(
            "/clients",
            &json!({"name": "Bench Client", "kind": "company", "manager_id": manager["id"], "contacts": []}),
        )
        .await?;
    let body = json!({"kind": "call", "direction": "outbound", "manager_id": manager["id"],
                      "client_id": client["id"], "duration_s": 95});

    // The feed's own notification: a subscriber from now on, noting when it sees each.
    let seen: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let (cursor, _) = log.feed_now().await?;
    let mut feed = log.subscribe(cursor, FeedFilter::types(["InteractionLogged"]));
    let subscriber = {
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok(events) = feed.next_batch(100).await {
                let now = Instant::now();
                let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
                seen.extend(events.iter().map(|e| (e.position, now)));
            }
        })
    };

    let pause = Duration::from_secs_f64(1.0 / f64::from(opts.rate.max(1)));
    let deadline = Instant::now() + Duration::from_secs(opts.seconds);
    let mut command = new_histogram()?;
    let mut answered: Vec<(i64, Instant)> = Vec::new();
    let mut next = Instant::now();
    while next < deadline {
        tokio::time::sleep_until(next.into()).await;
        next += pause;
        let began = Instant::now();
        let answer = web.post("/interactions", &body).await?;
        let at = Instant::now();
        record(&mut command, at - began);
        let position = answer["position"].as_i64().unwrap_or_default();
        answered.push((position, at));
    }
    let rate = answered.len() as f64 / opts.seconds.max(1) as f64;

    // Every call delivered (and seen), then the times.
    let positions: Vec<i64> = answered.iter().map(|(p, _)| *p).collect();
    let wait = Instant::now() + Duration::from_secs(60);
    let delivered = loop {
        let by_position: HashMap<i64, Instant> = receiver
            .arrivals(hook)
            .into_values()
            .map(|a| (a.position, a.first))
            .collect();
        let all_seen = {
            let seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
            positions.iter().all(|p| seen.contains_key(p))
        };
        if all_seen && positions.iter().all(|p| by_position.contains_key(p)) {
            break by_position;
        }
        anyhow::ensure!(
            Instant::now() < wait,
            "the calls were not all delivered within a minute"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    subscriber.abort();
    let seen = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let since = |at: &HashMap<i64, Instant>| -> anyhow::Result<Histogram<u64>> {
        let mut hist = new_histogram()?;
        for (position, answer) in &answered {
            if let Some(arrived) = at.get(position) {
                record(&mut hist, arrived.saturating_duration_since(*answer));
            }
        }
        Ok(hist)
    };
    let (delivery, feed) = (since(&delivered)?, since(&seen)?);
    let row = |what: &str, hist: &Histogram<u64>| {
        format!(
            "| {what} | {:.2} | {:.2} | {:.1}× / {:.1}× |\n",
            millis(hist, 0.5),
            millis(hist, 0.99),
            millis(&delivery, 0.5) / millis(hist, 0.5).max(0.001),
            millis(&delivery, 0.99) / millis(hist, 0.99).max(0.001),
        )
    };
    eprintln!(
        "answer → delivered p50 {:.2} ms, p99 {:.2} ms",
        millis(&delivery, 0.5),
        millis(&delivery, 0.99)
    );
    Ok(format!(
        "Latency: {} calls logged through HTTP ({rate:.0}/s for {} s), one webhook of every \
         event type; the time from each command's answer to its event's first arrival at the \
         receiver, beside the feed's own notification and the command's latency in the same run.\n\n\
         | measure | p50 ms | p99 ms | delivery p50 / p99 as a multiple |\n|---|---:|---:|---:|\n{}{}{}",
        answered.len(),
        opts.seconds,
        row("answer → delivered to the receiver", &delivery),
        row("answer → seen by a feed subscriber (baseline)", &feed),
        row("the command itself: request → answer", &command),
    ))
}
