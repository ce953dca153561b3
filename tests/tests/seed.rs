//! `crm seed`: the generated log is the same for the same seed and date, has
//! exactly the events asked for, verifies, holds every event type, feeds every
//! built-in read model without a failure, gives every report something to show, and
//! tells the sales department's business in sensible proportions.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use crm_cli::seed::{self, Generator, SeedOptions};
use crm_eventlog::EventLog;
use crm_tests::TestApp;
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

/// One stored event: id, stream, version, type, data, metadata, business time.
type Row = (uuid::Uuid, String, i64, String, Value, Value, DateTime<Utc>);

async fn stored(pool: &PgPool) -> Vec<Row> {
    sqlx::query_as(
        "SELECT event_id, stream_id, version, event_type, data, metadata, occurred_at \
           FROM eventlog.events ORDER BY position",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The stored events with their personal values decrypted by the database's own keys
/// (each database has keys of its own, so the stored ciphertexts differ).
async fn revealed(pool: &PgPool) -> Vec<Row> {
    let log = EventLog::new(pool.clone());
    let mut rows = stored(pool).await;
    for row in &mut rows {
        log.vault().reveal_json(&mut row.4).await.unwrap();
    }
    rows
}

/// A second database beside the test's own, migrated.
async fn twin(pool: &PgPool, name: &str) -> PgPool {
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(pool)
        .await
        .unwrap();
    let options = (*pool.connect_options()).clone().database(name);
    let twin = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .unwrap();
    crm_api::migrate(&twin).await.unwrap();
    twin
}

async fn drop_twin(pool: &PgPool, twin: PgPool, name: &str) {
    twin.close().await;
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(pool)
        .await
        .unwrap();
}

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

#[sqlx::test(migrations = false)]
async fn the_same_seed_and_date_make_the_same_log(pool: PgPool) {
    crm_api::migrate(&pool).await.unwrap();
    let options = SeedOptions::new(6_000, 7, day("2026-03-01"));
    let log = EventLog::new(pool.clone());
    let report = seed::seed(&log, &options, |_| {}).await.unwrap();
    assert_eq!(report.events, 6_000);
    assert_eq!(report.replayed, 0);

    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let (same_name, other_name) = (
        format!("seed_same_{suffix}"),
        format!("seed_other_{suffix}"),
    );
    let same = twin(&pool, &same_name).await;
    seed::seed(&EventLog::new(same.clone()), &options, |_| {})
        .await
        .unwrap();
    let other = twin(&pool, &other_name).await;
    let other_options = SeedOptions::new(6_000, 8, day("2026-03-01"));
    seed::seed(&EventLog::new(other.clone()), &other_options, |_| {})
        .await
        .unwrap();

    let (first, second, third) = (
        revealed(&pool).await,
        revealed(&same).await,
        revealed(&other).await,
    );
    assert_eq!(first.len(), 6_000);
    assert_eq!(first, second, "the same seed and date make the same events");
    // Stored, every client's and lead's name is encrypted under its own key.
    let (stored_first, stored_same) = (stored(&pool).await, stored(&same).await);
    let names: Vec<(&Value, &Value)> = stored_first
        .iter()
        .zip(&stored_same)
        .filter(|(r, _)| matches!(r.3.as_str(), "ClientRegistered" | "LeadCaptured"))
        .map(|(a, b)| (&a.4["name"], &b.4["name"]))
        .collect();
    assert!(!names.is_empty());
    for (a, b) in names {
        assert!(a.as_str().unwrap().starts_with("pii:v1:"), "{a}");
        assert_ne!(a, b, "each database has keys of its own");
    }
    assert_eq!(third.len(), 6_000);
    let ids = |rows: &[Row]| rows.iter().map(|r| r.0).collect::<BTreeSet<_>>();
    assert!(
        ids(&first).is_disjoint(&ids(&third)),
        "another seed, other ids"
    );
    let data = |rows: &[Row]| rows.iter().map(|r| r.4.clone()).collect::<Vec<_>>();
    assert_ne!(data(&first), data(&third), "another seed, another story");
    drop_twin(&pool, same, &same_name).await;
    drop_twin(&pool, other, &other_name).await;

    // Every event lies in the year before `until`, each stream in time order.
    let until = day("2026-03-01").and_hms_opt(0, 0, 0).unwrap().and_utc();
    let start = until - chrono::Duration::days(365);
    let mut last: HashMap<&str, (i64, DateTime<Utc>)> = HashMap::new();
    for (_, stream, version, _, _, _, at) in &first {
        assert!(*at >= start && *at < until, "{stream} v{version} at {at}");
        if let Some((v, before)) = last.get(stream.as_str()) {
            assert_eq!(*version, v + 1);
            assert!(before <= at, "{stream} goes back in time at v{version}");
        }
        last.insert(stream, (*version, *at));
    }

    let verified = log.verify().await.unwrap();
    assert!(verified.is_intact(), "{verified:?}");
    assert_eq!(verified.events, 6_000);

    // The same seed again: every batch is recognised as stored; nothing is added.
    let again = seed::seed(&log, &options, |_| {}).await.unwrap();
    assert_eq!(again.replayed, again.batches);
    assert_eq!(stored(&pool).await.len(), 6_000);
}

#[test]
fn the_log_has_exactly_the_events_asked_for() {
    for events in [1, 5, 40, 333, 2_500, 12_345] {
        let options = SeedOptions {
            batch_size: 500,
            ..SeedOptions::new(events, 3, day("2026-06-15"))
        };
        let batches: Vec<_> = Generator::new(&options).map(Result::unwrap).collect();
        let total: usize = batches.iter().map(|b| b.events).sum();
        assert_eq!(total as u64, events, "asked for {events}");
        for batch in &batches {
            let counted: usize = batch.appends.iter().map(|a| a.events.len()).sum();
            assert_eq!(counted, batch.events);
            let streams: BTreeSet<_> = batch.appends.iter().map(|a| &a.stream).collect();
            assert_eq!(
                streams.len(),
                batch.appends.len(),
                "a stream once per append"
            );
        }
    }
}

/// Waits until every built-in read model has applied the whole log, and returns
/// their statuses.
async fn caught_up(app: &TestApp) -> Vec<Value> {
    let names: BTreeSet<String> = crm_projections::builtin()
        .iter()
        .map(|p| p.name().to_owned())
        .collect();
    let mut last = Value::Null;
    for _ in 0..1_200 {
        let answer = app.get("/projections").await;
        assert!(answer.status.is_success(), "{:?}", answer.body);
        let list = answer.body.as_array().cloned().unwrap_or_default();
        for p in &list {
            assert_ne!(
                p["status"], "failed",
                "a read model failed on the seeded log: {p}"
            );
        }
        let done: BTreeSet<String> = list
            .iter()
            .filter(|p| p["lag_events"] == 0 && p["status"] == "running")
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect();
        if names.is_subset(&done) {
            return list;
        }
        last = answer.body;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the read models did not catch up: {last}");
}

/// Deals by their outcome now, and every client's wins, folded from the log.
#[derive(Default)]
struct Book {
    deal_client: HashMap<String, String>,
    deal_open: HashMap<String, bool>,
    client_wins: HashMap<String, Vec<DateTime<Utc>>>,
    clients: BTreeSet<String>,
}

impl Book {
    fn read(rows: &[Row]) -> Book {
        let mut book = Book::default();
        for (_, _, _, kind, data, _, at) in rows {
            let field = |name: &str| data[name].as_str().unwrap_or_default().to_owned();
            match kind.as_str() {
                "ClientRegistered" => {
                    book.clients.insert(field("client_id"));
                }
                "DealOpened" => {
                    book.deal_client
                        .insert(field("deal_id"), field("client_id"));
                    book.deal_open.insert(field("deal_id"), true);
                }
                "DealReopened" => {
                    book.deal_open.insert(field("deal_id"), true);
                }
                "DealLost" => {
                    book.deal_open.insert(field("deal_id"), false);
                }
                "DealWon" => {
                    book.deal_open.insert(field("deal_id"), false);
                    let client = book.deal_client[&field("deal_id")].clone();
                    book.client_wins.entry(client).or_default().push(*at);
                }
                _ => {}
            }
        }
        book
    }

    /// Clients per segment (inquiry, active, churned) as the spec defines them.
    fn segments(&self, now: DateTime<Utc>) -> HashMap<&'static str, usize> {
        let mut open_clients = BTreeSet::new();
        for (deal, open) in &self.deal_open {
            if *open {
                open_clients.insert(self.deal_client[deal].clone());
            }
        }
        let mut counts = HashMap::new();
        for client in &self.clients {
            let segment = match self.client_wins.get(client).and_then(|w| w.iter().max()) {
                None => "inquiry",
                Some(won) if now - *won <= chrono::Duration::days(180) => "active",
                Some(_) if open_clients.contains(client) => "active",
                Some(_) => "churned",
            };
            *counts.entry(segment).or_default() += 1;
        }
        counts
    }
}

#[sqlx::test(migrations = false)]
async fn a_seeded_year_feeds_every_read_model_and_report(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await.unwrap();
    let today = Utc::now().date_naive();
    let options = SeedOptions::new(20_000, 11, today);
    seed::seed(&app.log, &options, |_| {}).await.unwrap();
    let rows = revealed(&pool).await;
    assert_eq!(rows.len(), 20_000);

    // Every business event type of the domain is there (the generator defines no
    // custom projections and no automation rules, and erases nobody).
    let types: BTreeSet<&str> = rows.iter().map(|r| r.3.as_str()).collect();
    let automation = [
        "RuleDefined",
        "RuleDisabled",
        "LeadSlaBreached",
        "TaskReminderDue",
    ];
    // Nor merges: duplicate clients are left for the users to find and merge.
    let sales = ["ClientMerged", "ClientUnmerged"];
    let all: BTreeSet<&str> = crm_domain::events::EVENT_TYPES
        .iter()
        .copied()
        .filter(|t| !t.starts_with("Projection") && *t != "DataExported")
        .filter(|t| !crm_domain::personal::ERASURE_TYPES.contains(t))
        .filter(|t| !automation.contains(t))
        .filter(|t| !sales.contains(t))
        .collect();
    assert_eq!(types, all);

    // The built-in read models take the whole log without a failure.
    let projectors = app.start_projectors();
    caught_up(&app).await;

    let pipelines: Vec<String> = rows
        .iter()
        .filter(|r| r.3 == "PipelineDefined")
        .map(|r| r.4["pipeline_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(pipelines.len() >= 2);
    for pipeline in &pipelines {
        let funnel = app
            .get(&format!("/reports/funnel?pipeline_id={pipeline}"))
            .await;
        assert!(funnel.status.is_success(), "{:?}", funnel.body);
        assert!(
            funnel.body["open_deals"].as_i64().unwrap() > 0,
            "{}",
            funnel.body
        );
        let (from, to) = (today - chrono::Duration::days(365), today);
        let conversion = app
            .get(&format!("/reports/conversion?pipeline_id={pipeline}&from={from}T00:00:00Z&to={to}T00:00:00Z"))
            .await;
        assert!(conversion.status.is_success(), "{:?}", conversion.body);
        assert!(
            conversion.body["won"].as_i64().unwrap() > 0,
            "{}",
            conversion.body
        );
        assert!(
            conversion.body["lost"].as_i64().unwrap() > 0,
            "{}",
            conversion.body
        );
    }

    let (from, to) = (
        format!("{}T00:00:00Z", today - chrono::Duration::days(365)),
        format!("{today}T00:00:00Z"),
    );
    let non_empty =
        |body: &Value, list: &str| body[list].as_array().is_some_and(|items| !items.is_empty());
    for (path, list) in [
        ("/reports/overdue/tasks".to_owned(), "tasks"),
        ("/reports/overdue/deals".to_owned(), "deals"),
        ("/reports/overdue/leads".to_owned(), "leads"),
        ("/reports/forecast".to_owned(), "months"),
        (
            format!("/reports/loss-reasons?from={from}&to={to}"),
            "reasons",
        ),
        (
            format!("/reports/revenue?by=source&from={from}&to={to}"),
            "groups",
        ),
        (
            format!("/reports/revenue?by=manager&from={from}&to={to}"),
            "groups",
        ),
        (
            format!("/reports/leads?by=status&from={from}&to={to}"),
            "groups",
        ),
        (
            format!("/reports/leads?by=source&from={from}&to={to}"),
            "groups",
        ),
    ] {
        let answer = app.get(&path).await;
        assert!(answer.status.is_success(), "{path}: {:?}", answer.body);
        assert!(
            non_empty(&answer.body, list),
            "{path} is empty: {}",
            answer.body
        );
    }
    // The forecast reaches into the coming months.
    let forecast = app.get("/reports/forecast").await;
    let this_month = today.format("%Y-%m").to_string();
    let months: Vec<&str> = forecast.body["months"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["month"].as_str())
        .collect();
    assert!(
        months.iter().any(|m| *m > this_month.as_str()),
        "{months:?}"
    );
    // Leads of every status.
    let statuses = app
        .get(&format!("/reports/leads?by=status&from={from}&to={to}"))
        .await;
    let keys: BTreeSet<&str> = statuses.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["key"].as_str())
        .collect();
    for status in ["assigned", "converted", "rejected"] {
        assert!(keys.contains(status), "no {status} leads: {keys:?}");
    }
    // The managers' report: every kind of activity somewhere in the team.
    let managers = app
        .get(&format!("/reports/managers?from={from}&to={to}"))
        .await;
    assert!(managers.status.is_success(), "{:?}", managers.body);
    let team = managers.body["managers"].as_array().unwrap();
    for figure in [
        "calls_inbound",
        "calls_outbound",
        "call_seconds",
        "meetings",
        "emails",
        "messages",
        "clients_contacted",
        "leads_assigned",
        "leads_converted",
        "leads_rejected",
        "deals_opened",
        "deals_won",
        "deals_lost",
        "won_amount",
        "tasks_completed",
        "tasks_completed_late",
    ] {
        let total: i64 = team.iter().map(|m| m[figure].as_i64().unwrap_or(0)).sum();
        assert!(total > 0, "no {figure} in the managers' report");
    }

    // Clients of every segment, as many as the log's own facts say.
    let now = today.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let segments = Book::read(&rows).segments(now);
    for segment in ["inquiry", "active", "churned"] {
        let expected = segments.get(segment).copied().unwrap_or(0);
        assert!(expected > 0, "no {segment} clients: {segments:?}");
        let (mut listed, mut cursor) = (0, String::new());
        loop {
            let page = app
                .get(&format!(
                    "/clients?segment={segment}&now={}&limit=1000{cursor}",
                    now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ))
                .await;
            assert!(page.status.is_success(), "{:?}", page.body);
            listed += page.body["items"].as_array().unwrap().len();
            match page.body["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => break,
            }
        }
        assert_eq!(listed, expected, "{segment} clients");
    }
    projectors.shutdown().await;

    // The managers' report has calls both ways with durations, meetings, emails and
    // messages; tasks done on time and late.
    let interactions: Vec<&Value> = rows
        .iter()
        .filter(|r| r.3 == "InteractionLogged")
        .map(|r| &r.4)
        .collect();
    for (kind, direction) in [
        ("call", "inbound"),
        ("call", "outbound"),
        ("meeting", "outbound"),
        ("email", "outbound"),
        ("message", "inbound"),
    ] {
        assert!(
            interactions
                .iter()
                .any(|i| i["kind"] == kind && i["direction"] == direction),
            "no {direction} {kind}"
        );
    }
    assert!(interactions
        .iter()
        .any(|i| i["duration"]["seconds"].as_i64().unwrap_or(0) > 0));
    let mut due: HashMap<String, DateTime<Utc>> = HashMap::new();
    let (mut on_time, mut late) = (0, 0);
    for (_, _, _, kind, data, _, at) in &rows {
        let task = data["task_id"].as_str().unwrap_or_default().to_owned();
        match kind.as_str() {
            "TaskScheduled" => {
                due.insert(task, data["due_at"].as_str().unwrap().parse().unwrap());
            }
            "TaskRescheduled" => {
                due.insert(task, data["to_due_at"].as_str().unwrap().parse().unwrap());
            }
            "TaskCompleted" if *at > due[&task] => late += 1,
            "TaskCompleted" => on_time += 1,
            _ => {}
        }
    }
    assert!(on_time > late && late > 0, "on time {on_time}, late {late}");
}

/// Every event of a generated log (no database), in business-time order (each
/// stream's own order kept).
fn generated(events: u64, seed: u64, until: NaiveDate) -> Vec<(String, Value, DateTime<Utc>)> {
    let mut all: Vec<(String, Value, DateTime<Utc>)> =
        Generator::new(&SeedOptions::new(events, seed, until))
            .map(Result::unwrap)
            .flat_map(|b| b.appends)
            .flat_map(|a| a.events)
            .map(|e| (e.event_type, e.data, e.occurred_at))
            .collect();
    all.sort_by_key(|e| e.2);
    all
}

fn text(value: &Value, field: &str) -> String {
    value[field].as_str().unwrap_or_default().to_owned()
}

fn whole(value: &Value, field: &str) -> i64 {
    value[field].as_i64().unwrap_or_default()
}

/// An invoice as folded from the log.
struct Billed {
    deal: String,
    amount: i64,
    due_on: NaiveDate,
    paid: i64,
    last_paid: Option<NaiveDate>,
}

#[test]
fn a_seeded_year_tells_the_sales_departments_business() {
    let until = day("2026-06-15");
    let log = generated(40_000, 5, until);
    assert_eq!(log.len(), 40_000);
    let count = |kind: &str| log.iter().filter(|e| e.0 == kind).count();

    // A catalogue of a few dozen products in a handful of categories.
    let products: HashMap<String, String> = log
        .iter()
        .filter(|e| e.0 == "ProductDefined")
        .map(|e| (text(&e.1, "product_id"), text(&e.1, "category")))
        .collect();
    let categories: BTreeSet<&String> = products.values().collect();
    assert!(
        (24..=60).contains(&products.len()),
        "{} products",
        products.len()
    );
    assert!((4..=8).contains(&categories.len()), "{categories:?}");

    // Lines on most deals, added while they are open; a few removed; a won deal's
    // amount is its lines' total; most wins invoiced for that amount, after the win.
    let mut open: HashMap<String, bool> = HashMap::new();
    let mut lines: HashMap<String, HashMap<String, i64>> = HashMap::new();
    let mut with_lines = BTreeSet::new();
    let mut with_removal = BTreeSet::new();
    let mut won: HashMap<String, i64> = HashMap::new();
    let mut invoices: HashMap<String, Billed> = HashMap::new();
    let mut shipped = Vec::new();
    let mut plans: Vec<(String, String)> = Vec::new();
    let (mut calls, mut with_goal, mut reached) = (0, 0, 0);
    for (kind, data, at) in &log {
        let deal = text(data, "deal_id");
        match kind.as_str() {
            "DealOpened" | "DealReopened" => {
                open.insert(deal, true);
            }
            "DealLost" => {
                open.insert(deal, false);
            }
            "DealWon" => {
                let total: i64 = lines.get(&deal).map_or(0, |l| l.values().sum());
                if with_lines.contains(&deal) && total > 0 {
                    assert_eq!(
                        whole(data, "amount"),
                        total,
                        "deal {deal} won for its lines"
                    );
                }
                won.insert(deal.clone(), whole(data, "amount"));
                open.insert(deal, false);
            }
            "DealLineAdded" => {
                assert!(open[&deal], "a line added to a closed deal {deal}");
                assert!(products.contains_key(&text(data, "product_id")));
                let amount = whole(data, "quantity") * whole(data, "price");
                assert!(amount > 0);
                lines
                    .entry(deal.clone())
                    .or_default()
                    .insert(text(data, "line_id"), amount);
                with_lines.insert(deal);
            }
            "DealLineRemoved" => {
                assert!(open[&deal]);
                lines
                    .get_mut(&deal)
                    .unwrap()
                    .remove(&text(data, "line_id"))
                    .unwrap();
                with_removal.insert(deal);
            }
            "InvoiceIssued" => {
                assert_eq!(
                    won.get(&deal),
                    Some(&whole(data, "amount")),
                    "invoice of {deal}"
                );
                let due_on: NaiveDate = text(data, "due_on").parse().unwrap();
                assert!(due_on > at.date_naive());
                invoices.insert(
                    text(data, "invoice_id"),
                    Billed {
                        deal,
                        amount: whole(data, "amount"),
                        due_on,
                        paid: 0,
                        last_paid: None,
                    },
                );
            }
            "PaymentReceived" => {
                let invoice = invoices.get_mut(&text(data, "invoice_id")).unwrap();
                let paid_on: NaiveDate = text(data, "paid_on").parse().unwrap();
                assert_eq!(paid_on, at.date_naive());
                invoice.paid += whole(data, "amount");
                invoice.last_paid = Some(paid_on);
                assert!(invoice.paid <= invoice.amount);
            }
            "ShipmentSent" => {
                let shipped_on: NaiveDate = text(data, "shipped_on").parse().unwrap();
                // Goods go out once their invoice is paid in full.
                assert!(
                    invoices.values().any(|i| i.deal == deal
                        && i.paid == i.amount
                        && i.last_paid.is_some_and(|p| p <= shipped_on)),
                    "deal {deal} shipped unpaid"
                );
                shipped.push(deal);
            }
            "PlanSet" => plans.push((text(data, "plan_id"), text(data, "month"))),
            "InteractionLogged" if data["kind"] == "call" => {
                calls += 1;
                if let Some(goal) = data["goal_reached"].as_bool() {
                    with_goal += 1;
                    reached += usize::from(goal);
                }
            }
            _ => {}
        }
    }
    let deals = count("DealOpened");
    let share = |part: usize, whole: usize| part as f64 / whole.max(1) as f64;
    let lined = share(with_lines.len(), deals);
    assert!((0.75..=0.95).contains(&lined), "deals with lines: {lined}");
    let removed = share(with_removal.len(), with_lines.len());
    assert!(
        (0.01..=0.15).contains(&removed),
        "deals with a line removed: {removed}"
    );

    let invoiced = share(invoices.len(), count("DealWon"));
    assert!(
        (0.7..=0.95).contains(&invoiced),
        "wins invoiced: {invoiced}"
    );
    let today = until;
    let paid_on_time = invoices
        .values()
        .filter(|i| i.paid == i.amount && i.last_paid <= Some(i.due_on))
        .count();
    let paid_late = invoices
        .values()
        .filter(|i| i.paid == i.amount && i.last_paid > Some(i.due_on))
        .count();
    let partly = invoices
        .values()
        .filter(|i| i.paid > 0 && i.paid < i.amount)
        .count();
    let unpaid = invoices.values().filter(|i| i.paid == 0).count();
    let overdue = invoices
        .values()
        .filter(|i| i.paid < i.amount && i.due_on < today)
        .count();
    assert!(
        share(paid_on_time, invoices.len()) > 0.5,
        "paid on time: {paid_on_time} of {}",
        invoices.len()
    );
    for (what, n) in [
        ("late", paid_late),
        ("partly", partly),
        ("unpaid", unpaid),
        ("overdue", overdue),
    ] {
        let part = share(n, invoices.len());
        assert!((0.01..=0.3).contains(&part), "invoices {what}: {part}");
    }
    let fully_paid = invoices.values().filter(|i| i.paid == i.amount).count();
    let ships = share(shipped.len(), fully_paid);
    assert!(
        (0.3..=1.0).contains(&ships),
        "paid invoices shipped: {ships}"
    );

    println!(
        "{} products in {} categories; deals with lines {lined:.2}, with one removed {removed:.2}; \
         wins invoiced {invoiced:.2}; of {} invoices: on time {paid_on_time}, late {paid_late}, \
         partly {partly}, unpaid {unpaid}, overdue {overdue}; {} shipments",
        products.len(),
        categories.len(),
        invoices.len(),
        shipped.len()
    );
    // A plan per active manager each month but the first (partly); a few replaced.
    let months: BTreeSet<&String> = plans.iter().map(|p| &p.1).collect();
    assert!(months.len() >= 11, "plans in {} months", months.len());
    let distinct: BTreeSet<&String> = plans.iter().map(|p| &p.0).collect();
    let replaced = share(plans.len() - distinct.len(), distinct.len());
    assert!(
        (0.01..=0.2).contains(&replaced),
        "plans replaced: {replaced}"
    );
    assert!(distinct.len() >= months.len() * 2);

    println!(
        "{} plans ({} replaced) in {} months",
        plans.len(),
        plans.len() - distinct.len(),
        months.len()
    );
    // Most calls say whether their goal was reached; about half did.
    let goal = share(with_goal, calls);
    assert!((0.75..=0.95).contains(&goal), "calls with a goal: {goal}");
    let hit = share(reached, with_goal);
    assert!(
        (0.3..=0.7).contains(&hit),
        "calls reaching their goal: {hit}"
    );
}

/// The folded key of a client's name, phone and email as `GET /clients/duplicates`
/// matches them.
fn folded_name(name: &str) -> String {
    name.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

fn folded_phone(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    digits[digits.len().saturating_sub(10)..].to_owned()
}

#[test]
fn a_few_clients_are_registered_twice_under_another_spelling() {
    let log = generated(40_000, 5, day("2026-06-15"));
    // Each client's name and contacts as they stand at the end.
    let mut cards: HashMap<String, (String, Vec<Value>)> = HashMap::new();
    for (kind, data, _) in &log {
        let client = text(data, "client_id");
        match kind.as_str() {
            "ClientRegistered" => {
                let contacts = data["contacts"].as_array().cloned().unwrap_or_default();
                cards.insert(client, (text(data, "name"), contacts));
            }
            "ClientUpdated" => {
                let card = cards.get_mut(&client).unwrap();
                if let Some(name) = data["changes"]["name"].as_str() {
                    card.0 = name.to_owned();
                }
                if let Some(contacts) = data["changes"]["contacts"].as_array() {
                    card.1 = contacts.clone();
                }
            }
            _ => {}
        }
    }
    // Spellings of each folded name, phone and email, and the clients behind them.
    let mut seen: HashMap<(&str, String), BTreeSet<(String, &String)>> = HashMap::new();
    for (client, (name, contacts)) in &cards {
        seen.entry(("name", folded_name(name)))
            .or_default()
            .insert((name.clone(), client));
        for contact in contacts {
            if let Some(phone) = contact["phone"].as_str() {
                seen.entry(("phone", folded_phone(phone)))
                    .or_default()
                    .insert((phone.to_owned(), client));
            }
            if let Some(email) = contact["email"].as_str() {
                seen.entry(("email", email.to_lowercase()))
                    .or_default()
                    .insert((email.to_owned(), client));
            }
        }
    }
    // Written otherwise: the same once folded, spelt differently by different clients.
    let mut twins: BTreeSet<&String> = BTreeSet::new();
    let mut matches: BTreeSet<&str> = BTreeSet::new();
    for ((field, _), spellings) in &seen {
        let forms: BTreeSet<&String> = spellings.iter().map(|s| &s.0).collect();
        let clients: BTreeSet<&String> = spellings.iter().map(|s| s.1).collect();
        if forms.len() > 1 && clients.len() > 1 {
            twins.extend(clients);
            matches.insert(field);
        }
    }
    let per_thousand = twins.len() as f64 * 1000.0 / cards.len() as f64;
    assert!(
        (1.0..=25.0).contains(&per_thousand),
        "{} of {} clients in a group spelt otherwise ({per_thousand:.1}‰) by {matches:?}",
        twins.len(),
        cards.len()
    );
    let namesakes: usize = seen
        .iter()
        .filter(|((field, _), spellings)| *field == "name" && spellings.len() > 1)
        .map(|(_, spellings)| spellings.len())
        .sum();
    println!("{namesakes} clients share their name with another, spelt alike");
    // Namesakes spelt alike are rare: the names drawn do not repeat by the thousand.
    assert!(
        namesakes * 50 <= cards.len(),
        "{namesakes} of {} clients are namesakes",
        cards.len()
    );
    println!(
        "{} of {} clients in a group spelt otherwise ({per_thousand:.1}‰) by {matches:?}",
        twins.len(),
        cards.len()
    );
    assert!(matches.len() >= 2, "matched only by {matches:?}");
}
