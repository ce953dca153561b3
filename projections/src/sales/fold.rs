//! What a batch does to the sales model: deals, lines, wins, first wins, first contacts,
//! invoices and plans folded in memory (the rows the batch touches loaded first),
//! then one write per table.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use crm_domain::values::Direction;
use crm_domain::DomainEvent;
use crm_eventlog::RecordedEvent;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::batch::decode;
use crate::error::ProjectionError;
use crate::event::FeedEvent;

/// A deal's client and the manager responsible now.
#[derive(Debug, Clone, Copy)]
struct Deal {
    client_id: Uuid,
    manager_id: Uuid,
}

/// One line of a deal.
#[derive(Debug, Clone, Copy)]
struct Line {
    product_id: Uuid,
    quantity: i64,
    price: i64,
}

/// A DealWon with the deal as it stood.
struct Win {
    deal_id: Uuid,
    version: i64,
    position: i64,
    occurred_at: DateTime<Utc>,
    deal: Deal,
    amount: i64,
}

/// An invoice issued.
struct Invoice {
    invoice_id: Uuid,
    deal_id: Uuid,
    deal: Deal,
    number: String,
    amount: i64,
    due_on: NaiveDate,
    issued_at: DateTime<Utc>,
}

/// What a batch writes.
#[derive(Default)]
struct Fold {
    products: BTreeMap<Uuid, (String, String, Option<i64>)>,
    deals: HashMap<Uuid, Deal>,
    touched_deals: BTreeMap<Uuid, Deal>,
    lines: HashMap<Uuid, BTreeMap<Uuid, Line>>,
    touched_lines: Vec<Uuid>,
    wins: Vec<Win>,
    won_lines: Vec<(usize, Uuid, Line)>,
    contacts: BTreeMap<Uuid, (DateTime<Utc>, i64, &'static str)>,
    invoices: Vec<Invoice>,
    payments: BTreeMap<Uuid, i64>,
    plans: BTreeMap<(Uuid, NaiveDate), crm_domain::events::PlanTargets>,
}

/// Applies a batch of sales events to the read model's tables.
pub(super) async fn apply(
    tx: &mut Transaction<'_, Postgres>,
    events: &[Arc<FeedEvent>],
) -> Result<(), ProjectionError> {
    let events = decode(events)?;
    let mut fold = Fold {
        deals: load_deals(tx, &events).await?,
        lines: load_lines(tx, &events).await?,
        ..Fold::default()
    };
    for (stored, event) in &events {
        fold.apply(stored, event)?;
    }
    fold.write(tx).await
}

/// The deal an event names, if the deal must exist already.
fn named_deal(event: &DomainEvent) -> Option<Uuid> {
    use DomainEvent as E;
    match event {
        E::DealReassigned(e) => Some(e.deal_id),
        E::DealWon(e) => Some(e.deal_id),
        E::DealLineAdded(e) => Some(e.deal_id),
        E::DealLineRemoved(e) => Some(e.deal_id),
        E::InvoiceIssued(e) => Some(e.deal_id),
        _ => None,
    }
}

/// The deal whose lines an event reads or changes.
fn lined_deal(event: &DomainEvent) -> Option<Uuid> {
    use DomainEvent as E;
    match event {
        E::DealWon(e) => Some(e.deal_id),
        E::DealLineAdded(e) => Some(e.deal_id),
        E::DealLineRemoved(e) => Some(e.deal_id),
        _ => None,
    }
}

async fn load_deals(
    tx: &mut Transaction<'_, Postgres>,
    events: &[(&RecordedEvent, &DomainEvent)],
) -> Result<HashMap<Uuid, Deal>, ProjectionError> {
    let mut ids: Vec<Uuid> = events.iter().filter_map(|(_, e)| named_deal(e)).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    ids.sort_unstable();
    ids.dedup();
    let rows: Vec<(Uuid, Uuid, Uuid)> = sqlx::query_as(
        "SELECT deal_id, client_id, manager_id FROM sales_deals WHERE deal_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(deal_id, client_id, manager_id)| {
            (
                deal_id,
                Deal {
                    client_id,
                    manager_id,
                },
            )
        })
        .collect())
}

async fn load_lines(
    tx: &mut Transaction<'_, Postgres>,
    events: &[(&RecordedEvent, &DomainEvent)],
) -> Result<HashMap<Uuid, BTreeMap<Uuid, Line>>, ProjectionError> {
    let mut ids: Vec<Uuid> = events.iter().filter_map(|(_, e)| lined_deal(e)).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    ids.sort_unstable();
    ids.dedup();
    let rows: Vec<(Uuid, Uuid, Uuid, i64, i64)> = sqlx::query_as(
        "SELECT deal_id, line_id, product_id, quantity, price FROM sales_deal_lines \
          WHERE deal_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    let mut lines: HashMap<Uuid, BTreeMap<Uuid, Line>> = HashMap::new();
    for (deal_id, line_id, product_id, quantity, price) in rows {
        lines.entry(deal_id).or_default().insert(
            line_id,
            Line {
                product_id,
                quantity,
                price,
            },
        );
    }
    Ok(lines)
}

impl Fold {
    fn deal(&self, id: Uuid, position: i64) -> Result<Deal, ProjectionError> {
        self.deals.get(&id).copied().ok_or_else(|| {
            ProjectionError::failed(format!(
                "event at position {position}: deal {id} was never opened"
            ))
        })
    }

    /// Folds one event in.
    fn apply(
        &mut self,
        stored: &RecordedEvent,
        event: &DomainEvent,
    ) -> Result<(), ProjectionError> {
        use DomainEvent as E;
        match event {
            E::ProductDefined(e) => {
                self.products
                    .insert(e.product_id, (e.name.clone(), e.category.clone(), e.price));
            }
            E::DealOpened(e) => {
                let deal = Deal {
                    client_id: e.client_id,
                    manager_id: e.manager_id,
                };
                self.deals.insert(e.deal_id, deal);
                self.touched_deals.insert(e.deal_id, deal);
            }
            E::DealReassigned(e) => {
                let mut deal = self.deal(e.deal_id, stored.position)?;
                deal.manager_id = e.to_manager_id;
                self.deals.insert(e.deal_id, deal);
                self.touched_deals.insert(e.deal_id, deal);
            }
            E::DealLineAdded(e) => {
                self.lines.entry(e.deal_id).or_default().insert(
                    e.line_id,
                    Line {
                        product_id: e.product_id,
                        quantity: e.quantity,
                        price: e.price,
                    },
                );
                self.touched_lines.push(e.deal_id);
            }
            E::DealLineRemoved(e) => {
                if let Some(lines) = self.lines.get_mut(&e.deal_id) {
                    lines.remove(&e.line_id);
                }
                self.touched_lines.push(e.deal_id);
            }
            E::DealWon(e) => {
                let deal = self.deal(e.deal_id, stored.position)?;
                let win = self.wins.len();
                self.wins.push(Win {
                    deal_id: e.deal_id,
                    version: stored.version,
                    position: stored.position,
                    occurred_at: stored.occurred_at,
                    deal,
                    amount: e.amount,
                });
                for (line_id, line) in self.lines.get(&e.deal_id).into_iter().flatten() {
                    self.won_lines.push((win, *line_id, *line));
                }
            }
            E::InteractionLogged(e) => {
                if let Some(client_id) = e.client_id {
                    let direction = match e.direction {
                        Direction::Inbound => "inbound",
                        Direction::Outbound => "outbound",
                    };
                    let this = (stored.occurred_at, stored.position, direction);
                    let first = self.contacts.entry(client_id).or_insert(this);
                    if (this.0, this.1) < (first.0, first.1) {
                        *first = this;
                    }
                }
            }
            E::InvoiceIssued(e) => {
                let deal = self.deal(e.deal_id, stored.position)?;
                self.invoices.push(Invoice {
                    invoice_id: e.invoice_id,
                    deal_id: e.deal_id,
                    deal,
                    number: e.number.clone(),
                    amount: e.amount,
                    due_on: e.due_on,
                    issued_at: stored.occurred_at,
                });
            }
            E::PaymentReceived(e) => {
                let paid = self.payments.entry(e.invoice_id).or_default();
                *paid = paid.saturating_add(e.amount);
            }
            E::PlanSet(e) => {
                let month = e.month.first_day().ok_or_else(|| {
                    ProjectionError::failed(format!(
                        "event at position {}: month {} has no first day",
                        stored.position, e.month
                    ))
                })?;
                // A later plan for the same manager and month replaces the earlier.
                self.plans.insert((e.manager_id, month), e.targets.clone());
            }
            _ => {}
        }
        Ok(())
    }

    /// Writes what the batch folded, one statement per table.
    async fn write(mut self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        self.write_products(tx).await?;
        self.write_deals(tx).await?;
        self.write_lines(tx).await?;
        // The first contacts before the wins: a first win written after them takes its
        // client's direction from them.
        self.write_contacts(tx).await?;
        self.write_wins(tx).await?;
        self.write_invoices(tx).await?;
        self.write_plans(tx).await
    }

    async fn write_products(
        &self,
        tx: &mut Transaction<'_, Postgres>,
    ) -> Result<(), ProjectionError> {
        if self.products.is_empty() {
            return Ok(());
        }
        let p = &self.products;
        sqlx::query(
            "INSERT INTO sales_products (product_id, name, category, price) \
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int8[]) \
             ON CONFLICT (product_id) DO UPDATE SET name = EXCLUDED.name, \
                    category = EXCLUDED.category, price = EXCLUDED.price",
        )
        .bind(p.keys().copied().collect::<Vec<_>>())
        .bind(p.values().map(|v| v.0.as_str()).collect::<Vec<_>>())
        .bind(p.values().map(|v| v.1.as_str()).collect::<Vec<_>>())
        .bind(p.values().map(|v| v.2).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn write_deals(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        if self.touched_deals.is_empty() {
            return Ok(());
        }
        let d = &self.touched_deals;
        sqlx::query(
            "INSERT INTO sales_deals (deal_id, client_id, manager_id) \
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[]) \
             ON CONFLICT (deal_id) DO UPDATE SET manager_id = EXCLUDED.manager_id",
        )
        .bind(d.keys().copied().collect::<Vec<_>>())
        .bind(d.values().map(|v| v.client_id).collect::<Vec<_>>())
        .bind(d.values().map(|v| v.manager_id).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The touched deals' lines: deleted, then written as the batch leaves them.
    async fn write_lines(
        &mut self,
        tx: &mut Transaction<'_, Postgres>,
    ) -> Result<(), ProjectionError> {
        if self.touched_lines.is_empty() {
            return Ok(());
        }
        self.touched_lines.sort_unstable();
        self.touched_lines.dedup();
        sqlx::query("DELETE FROM sales_deal_lines WHERE deal_id = ANY($1)")
            .bind(&self.touched_lines)
            .execute(&mut **tx)
            .await?;
        let rows: Vec<(Uuid, Uuid, Line)> = self
            .touched_lines
            .iter()
            .flat_map(|deal| {
                self.lines
                    .get(deal)
                    .into_iter()
                    .flatten()
                    .map(move |(line_id, line)| (*deal, *line_id, *line))
            })
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO sales_deal_lines (deal_id, line_id, product_id, quantity, price) \
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::int8[], $5::int8[])",
        )
        .bind(rows.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.1).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.2.product_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.2.quantity).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.2.price).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn write_wins(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        let w = &self.wins;
        if w.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO sales_wins (deal_id, version, position, occurred_at, client_id, \
                    manager_id, amount) \
             SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::int8[], $4::timestamptz[], \
                    $5::uuid[], $6::uuid[], $7::int8[])",
        )
        .bind(w.iter().map(|w| w.deal_id).collect::<Vec<_>>())
        .bind(w.iter().map(|w| w.version).collect::<Vec<_>>())
        .bind(w.iter().map(|w| w.position).collect::<Vec<_>>())
        .bind(w.iter().map(|w| w.occurred_at).collect::<Vec<_>>())
        .bind(w.iter().map(|w| w.deal.client_id).collect::<Vec<_>>())
        .bind(w.iter().map(|w| w.deal.manager_id).collect::<Vec<_>>())
        .bind(w.iter().map(|w| w.amount).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
        self.write_first_wins(tx).await?;
        let l = &self.won_lines;
        if l.is_empty() {
            return Ok(());
        }
        let win = |i: usize| &w[i];
        sqlx::query(
            "INSERT INTO sales_won_lines (deal_id, version, line_id, occurred_at, manager_id, \
                    product_id, quantity, price) \
             SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::uuid[], $4::timestamptz[], \
                    $5::uuid[], $6::uuid[], $7::int8[], $8::int8[])",
        )
        .bind(l.iter().map(|r| win(r.0).deal_id).collect::<Vec<_>>())
        .bind(l.iter().map(|r| win(r.0).version).collect::<Vec<_>>())
        .bind(l.iter().map(|r| r.1).collect::<Vec<_>>())
        .bind(l.iter().map(|r| win(r.0).occurred_at).collect::<Vec<_>>())
        .bind(
            l.iter()
                .map(|r| win(r.0).deal.manager_id)
                .collect::<Vec<_>>(),
        )
        .bind(l.iter().map(|r| r.2.product_id).collect::<Vec<_>>())
        .bind(l.iter().map(|r| r.2.quantity).collect::<Vec<_>>())
        .bind(l.iter().map(|r| r.2.price).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Each client's earliest win of the batch, kept if earlier than the stored; a new
    /// row with the direction of the client's first contact.
    async fn write_first_wins(
        &self,
        tx: &mut Transaction<'_, Postgres>,
    ) -> Result<(), ProjectionError> {
        let mut firsts: BTreeMap<Uuid, &Win> = BTreeMap::new();
        for win in &self.wins {
            let first = firsts.entry(win.deal.client_id).or_insert(win);
            if (win.occurred_at, win.position) < (first.occurred_at, first.position) {
                *first = win;
            }
        }
        sqlx::query(
            "INSERT INTO sales_first_wins AS f \
                    (client_id, occurred_at, position, deal_id, direction) \
             SELECT u.*, c.direction \
               FROM UNNEST($1::uuid[], $2::timestamptz[], $3::int8[], $4::uuid[]) \
                    AS u(client_id, occurred_at, position, deal_id) \
               LEFT JOIN sales_first_contacts c ON c.client_id = u.client_id \
             ON CONFLICT (client_id) DO UPDATE SET occurred_at = EXCLUDED.occurred_at, \
                    position = EXCLUDED.position, deal_id = EXCLUDED.deal_id \
              WHERE (EXCLUDED.occurred_at, EXCLUDED.position) < (f.occurred_at, f.position)",
        )
        .bind(firsts.keys().copied().collect::<Vec<_>>())
        .bind(firsts.values().map(|w| w.occurred_at).collect::<Vec<_>>())
        .bind(firsts.values().map(|w| w.position).collect::<Vec<_>>())
        .bind(firsts.values().map(|w| w.deal_id).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Each client's earliest interaction of the batch, kept if earlier than the stored;
    /// the direction of each one kept is set on its client's first-win row, if any.
    async fn write_contacts(
        &self,
        tx: &mut Transaction<'_, Postgres>,
    ) -> Result<(), ProjectionError> {
        let c = &self.contacts;
        if c.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "WITH kept AS ( \
                 INSERT INTO sales_first_contacts AS f \
                        (client_id, occurred_at, position, direction) \
                 SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[], $3::int8[], $4::text[]) \
                 ON CONFLICT (client_id) DO UPDATE SET occurred_at = EXCLUDED.occurred_at, \
                        position = EXCLUDED.position, direction = EXCLUDED.direction \
                  WHERE (EXCLUDED.occurred_at, EXCLUDED.position) < (f.occurred_at, f.position) \
                 RETURNING client_id, direction) \
             UPDATE sales_first_wins w SET direction = kept.direction \
               FROM kept WHERE w.client_id = kept.client_id",
        )
        .bind(c.keys().copied().collect::<Vec<_>>())
        .bind(c.values().map(|v| v.0).collect::<Vec<_>>())
        .bind(c.values().map(|v| v.1).collect::<Vec<_>>())
        .bind(c.values().map(|v| v.2).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The invoices issued, then the payments added to their invoices (an invoice is
    /// issued before its payments, in its stream's order).
    async fn write_invoices(
        &self,
        tx: &mut Transaction<'_, Postgres>,
    ) -> Result<(), ProjectionError> {
        let i = &self.invoices;
        if !i.is_empty() {
            sqlx::query(
                "INSERT INTO sales_invoices (invoice_id, deal_id, client_id, manager_id, number, \
                        amount, due_on, issued_at, paid) \
                 SELECT u.*, 0 FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], \
                        $5::text[], $6::int8[], $7::date[], $8::timestamptz[]) AS u",
            )
            .bind(i.iter().map(|v| v.invoice_id).collect::<Vec<_>>())
            .bind(i.iter().map(|v| v.deal_id).collect::<Vec<_>>())
            .bind(i.iter().map(|v| v.deal.client_id).collect::<Vec<_>>())
            .bind(i.iter().map(|v| v.deal.manager_id).collect::<Vec<_>>())
            .bind(i.iter().map(|v| v.number.as_str()).collect::<Vec<_>>())
            .bind(i.iter().map(|v| v.amount).collect::<Vec<_>>())
            .bind(i.iter().map(|v| v.due_on).collect::<Vec<_>>())
            .bind(i.iter().map(|v| v.issued_at).collect::<Vec<_>>())
            .execute(&mut **tx)
            .await?;
        }
        let p = &self.payments;
        if !p.is_empty() {
            sqlx::query(
                "UPDATE sales_invoices i SET paid = i.paid + u.amount \
                   FROM UNNEST($1::uuid[], $2::int8[]) AS u(invoice_id, amount) \
                  WHERE i.invoice_id = u.invoice_id",
            )
            .bind(p.keys().copied().collect::<Vec<_>>())
            .bind(p.values().copied().collect::<Vec<_>>())
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    async fn write_plans(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), ProjectionError> {
        let p = &self.plans;
        if p.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO sales_plans (manager_id, month, calls, meetings, call_seconds, \
                    deals_won, won_amount) \
             SELECT * FROM UNNEST($1::uuid[], $2::date[], $3::int8[], $4::int8[], $5::int8[], \
                    $6::int8[], $7::int8[]) \
             ON CONFLICT (manager_id, month) DO UPDATE SET calls = EXCLUDED.calls, \
                    meetings = EXCLUDED.meetings, call_seconds = EXCLUDED.call_seconds, \
                    deals_won = EXCLUDED.deals_won, won_amount = EXCLUDED.won_amount",
        )
        .bind(p.keys().map(|k| k.0).collect::<Vec<_>>())
        .bind(p.keys().map(|k| k.1).collect::<Vec<_>>())
        .bind(p.values().map(|t| t.calls).collect::<Vec<_>>())
        .bind(p.values().map(|t| t.meetings).collect::<Vec<_>>())
        .bind(p.values().map(|t| t.call_seconds).collect::<Vec<_>>())
        .bind(p.values().map(|t| t.deals_won).collect::<Vec<_>>())
        .bind(p.values().map(|t| t.won_amount).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}
