//! The sales department's business: the catalogue defined on the first day, lines
//! on the deals while they are open (now and then one taken off again), an invoice
//! after most wins, paid on time, late, in part or never, and the goods shipped
//! once it is paid.

use chrono::{Duration, NaiveDate};
use crm_domain::deal::{DealCommand, DealStatus, NewLine};
use crm_domain::invoice::{InvoiceCommand, InvoiceState, IssueInvoice};
use crm_domain::product::{DefineProduct, ProductCommand, ProductState};
use crm_domain::shipment::{SendShipment, ShipmentCommand, ShipmentState};
use crm_domain::values::ClientKind;
use uuid::Uuid;

use super::sales::Line;
use super::story::{Action, Sim};
use super::time;
use super::world::{decide, Actor};
use super::SeedError;

/// A product of the catalogue as the story uses it.
pub struct Item {
    /// Its name.
    pub name: &'static str,
    /// Its category.
    pub category: &'static str,
    /// Its list price, whole currency units.
    pub price: i64,
    /// The pipelines whose deals carry it.
    pub lines: &'static [Line],
}

const B2B: &[Line] = &[Line::Companies, Line::Renewals];
const NEW_B2B: &[Line] = &[Line::Companies];
const RETAIL: &[Line] = &[Line::Persons];
const ALL: &[Line] = &[Line::Companies, Line::Persons, Line::Renewals];

const fn item(
    name: &'static str,
    category: &'static str,
    price: i64,
    lines: &'static [Line],
) -> Item {
    Item {
        name,
        category,
        price,
        lines,
    }
}

/// Categories of goods: a deal with only services and licences ships nothing.
const GOODS: &[&str] = &["Equipment", "Furniture", "Electronics"];

/// The company's catalogue: 36 products in 6 categories.
pub const CATALOGUE: &[Item] = &[
    item("Barcode scanner", "Equipment", 4_500, B2B),
    item("Label printer", "Equipment", 9_800, B2B),
    item("POS terminal", "Equipment", 18_500, B2B),
    item("Network switch, 24 ports", "Equipment", 12_400, B2B),
    item("Rack server", "Equipment", 185_000, NEW_B2B),
    item("Warehouse shelving unit", "Equipment", 7_200, B2B),
    item("Pallet truck", "Equipment", 16_000, NEW_B2B),
    item("Industrial air conditioner", "Equipment", 96_000, NEW_B2B),
    item("CRM licence, per seat, year", "Software", 6_000, B2B),
    item("Accounting software, year", "Software", 14_400, B2B),
    item("ERP module", "Software", 120_000, NEW_B2B),
    item("Cloud storage 1 TB, year", "Software", 3_600, B2B),
    item("Antivirus, per device, year", "Software", 900, ALL),
    item("Warehouse management system", "Software", 240_000, NEW_B2B),
    item("Installation", "Services", 2_500, ALL),
    item("On-site training day", "Services", 12_000, B2B),
    item("Consulting hour", "Services", 1_800, B2B),
    item("Maintenance contract, year", "Services", 48_000, B2B),
    item("Delivery", "Services", 600, ALL),
    item("Project management", "Services", 35_000, NEW_B2B),
    item("Office desk", "Furniture", 8_400, NEW_B2B),
    item("Office chair", "Furniture", 5_600, B2B),
    item("Meeting table", "Furniture", 21_000, NEW_B2B),
    item("Kitchen set", "Furniture", 65_000, RETAIL),
    item("Wardrobe", "Furniture", 18_000, RETAIL),
    item("Sofa", "Furniture", 27_000, RETAIL),
    item("Laptop 15\"", "Electronics", 38_000, ALL),
    item("Smartphone", "Electronics", 22_000, RETAIL),
    item("Tablet", "Electronics", 15_000, RETAIL),
    item("Monitor 27\"", "Electronics", 11_500, ALL),
    item("Air conditioner", "Electronics", 24_000, RETAIL),
    item("Washing machine", "Electronics", 19_500, RETAIL),
    item(
        "Extended warranty, 1 year",
        "Warranty and insurance",
        2_400,
        ALL,
    ),
    item(
        "Extended warranty, 3 years",
        "Warranty and insurance",
        5_900,
        ALL,
    ),
    item(
        "Home insurance, year",
        "Warranty and insurance",
        7_800,
        RETAIL,
    ),
    item(
        "Equipment insurance, year",
        "Warranty and insurance",
        15_000,
        B2B,
    ),
];

/// The share of deals that get lines.
const DEALS_WITH_LINES: f64 = 0.88;

/// How an invoice gets paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payer {
    /// In full before it is due.
    OnTime,
    /// In full, after it was due.
    Late,
    /// Part of it first, the rest later or never.
    Partly,
    /// Not at all.
    Never,
}

const PAYERS: &[(Payer, f64)] = &[
    (Payer::OnTime, 64.0),
    (Payer::Late, 14.0),
    (Payer::Partly, 12.0),
    (Payer::Never, 10.0),
];

/// Notes on a shipment.
const SHIPMENT_NOTES: &[&str] = &[
    "Nova Poshta",
    "Picked up from the warehouse",
    "Our own van",
    "Delivered and installed",
    "Partial delivery, rest to follow",
];

/// What the story keeps about the business beside the entities' states.
#[derive(Default)]
pub struct Books {
    /// The catalogue as defined: each product's id and item.
    pub products: Vec<(Uuid, &'static Item)>,
    /// The last invoice number given.
    pub invoice_number: u64,
}

impl Sim {
    /// The first day: the catalogue, defined by the administrator. False when the
    /// log is full.
    pub(super) fn define_catalogue(&mut self) -> Result<bool, SeedError> {
        for item in CATALOGUE {
            let product_id = self.dice.id();
            let command = ProductCommand::Define(DefineProduct {
                product_id,
                name: item.name.to_owned(),
                category: item.category.to_owned(),
                price: Some(item.price * 100),
            });
            let events = decide::<ProductState>("define product", None, command)?;
            if !self.commit(Actor::Admin, events) {
                return Ok(false);
            }
            self.books.products.push((product_id, item));
        }
        Ok(true)
    }

    /// A new deal gets its lines soon after it was opened (most deals do).
    pub(super) fn plan_lines(&mut self, deal_id: Uuid) {
        if self.books.products.is_empty() || !self.dice.chance(DEALS_WITH_LINES) {
            return;
        }
        let later = self.now + Duration::minutes(self.dice.int(5, 1440));
        let at = time::working(later, &mut self.dice);
        self.plan(at, Action::DealLines(deal_id));
    }

    /// The deal's lines: one to four products of its pipeline's line, priced at
    /// list or a little under, in quantities that make about the deal's amount.
    pub(super) fn deal_lines(&mut self, deal_id: Uuid) -> Result<(), SeedError> {
        let Some(deal) = self.deal_open(deal_id) else {
            return Ok(());
        };
        if !deal.lines.is_empty() || !self.world.active(deal.manager_id) {
            return Ok(());
        }
        let Some(line) = self
            .pipe_by_id(deal.pipeline_id)
            .map(|p| self.pipes[p].plan.line)
        else {
            return Ok(());
        };
        let count = match line {
            Line::Persons => *self.dice.weighted(&[(1, 55.0), (2, 35.0), (3, 10.0)]),
            Line::Companies => *self
                .dice
                .weighted(&[(1, 25.0), (2, 35.0), (3, 25.0), (4, 15.0)]),
            Line::Renewals => *self.dice.weighted(&[(1, 60.0), (2, 30.0), (3, 10.0)]),
        };
        let budget = deal.amount as f64 / 100.0;
        let mut used: Vec<usize> = Vec::new();
        for n in 0..count {
            // The first line carries most of the amount; the others share the rest.
            let share = if n == 0 && count > 1 {
                self.dice.uniform(0.5, 0.8)
            } else if count > 1 {
                0.35 / f64::from(count - 1)
            } else {
                1.0
            };
            let part = budget * share;
            let Some(index) = self.product_for(line, part, &used) else {
                break;
            };
            used.push(index);
            let (product_id, item) = self.books.products[index];
            let discount = *self
                .dice
                .weighted(&[(0, 60.0), (5, 25.0), (10, 12.0), (15, 3.0)]);
            let price = item.price * (100 - discount);
            let quantity = ((part * 100.0 / price as f64).round() as i64).clamp(1, 500);
            let command = DealCommand::AddLine {
                deal_id,
                line: NewLine {
                    line_id: self.dice.id(),
                    product: self.world.product(product_id),
                    quantity,
                    price,
                },
            };
            if !self.deal_line_command("add deal line", deal_id, deal.manager_id, command)? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// A product of `line` priced near `part` (units) at most, not among `used`:
    /// the dearest that fits of a few drawn at random, or the cheapest of them.
    fn product_for(&mut self, line: Line, part: f64, used: &[usize]) -> Option<usize> {
        let fitting: Vec<usize> = (0..self.books.products.len())
            .filter(|i| !used.contains(i) && self.books.products[*i].1.lines.contains(&line))
            .collect();
        if fitting.is_empty() {
            return None;
        }
        let drawn: Vec<usize> = (0..4).map(|_| *self.dice.pick(&fitting)).collect();
        let price = |i: &usize| self.books.products[*i].1.price;
        drawn
            .iter()
            .filter(|i| price(i) as f64 <= part)
            .max_by_key(|i| price(i))
            .or_else(|| drawn.iter().min_by_key(|i| price(i)))
            .copied()
    }

    fn deal_open(&self, deal_id: Uuid) -> Option<crm_domain::deal::Deal> {
        self.world
            .deals
            .get(&deal_id)?
            .deal
            .clone()
            .filter(|d| d.status == DealStatus::Open)
    }

    fn deal_line_command(
        &mut self,
        what: &'static str,
        deal_id: Uuid,
        actor: Uuid,
        command: DealCommand,
    ) -> Result<bool, SeedError> {
        let state = self.world.deals.get(&deal_id).cloned();
        let events = decide(what, state.as_ref(), command)?;
        Ok(self.commit(Actor::Manager(actor), events))
    }

    /// Now and then the client drops one of several lines while the deal is open
    /// (once at most). False when it did not fit.
    pub(super) fn maybe_drop_line(
        &mut self,
        deal_id: Uuid,
        owner: Uuid,
    ) -> Result<bool, SeedError> {
        let Some(deal) = self.deal_open(deal_id) else {
            return Ok(true);
        };
        if deal.lines.len() < 2 || !deal.retired_line_ids.is_empty() || !self.dice.chance(0.06) {
            return Ok(true);
        }
        let line_id = self.dice.pick(&deal.lines).line_id;
        let command = DealCommand::RemoveLine { deal_id, line_id };
        self.deal_line_command("remove deal line", deal_id, owner, command)
    }

    /// The amount a deal is won for: its lines' total when it has lines.
    pub(super) fn lines_total(&self, deal_id: Uuid) -> Option<i64> {
        let deal = self.world.deals.get(&deal_id)?.deal.as_ref()?;
        (!deal.lines.is_empty()).then(|| deal.lines.iter().map(|l| l.amount()).sum())
    }

    /// A deal was won: most get an invoice within a few days.
    pub(super) fn plan_invoice(&mut self, deal_id: Uuid, kind: Option<ClientKind>) {
        let odds = if kind == Some(ClientKind::Company) {
            0.9
        } else {
            0.8
        };
        if !self.dice.chance(odds) {
            return;
        }
        let later = self.now + Duration::minutes(self.dice.int(30, 3 * 1440));
        let at = time::working(later, &mut self.dice);
        self.plan(at, Action::Invoice(deal_id));
    }

    /// Who acts for a deal's money and goods: its manager while active, else the
    /// administrator (the accounts department's import).
    fn clerk(&self, manager: Uuid) -> Actor {
        if self.world.active(manager) {
            Actor::Manager(manager)
        } else {
            Actor::Admin
        }
    }

    /// The invoice of a won deal, for its amount, due in a week or two (persons)
    /// or two weeks to a month (companies); its payments planned.
    pub(super) fn invoice(&mut self, deal_id: Uuid) -> Result<(), SeedError> {
        let Some(deal) = self
            .world
            .deals
            .get(&deal_id)
            .and_then(|d| d.deal.clone())
            .filter(|d| d.status == DealStatus::Won)
        else {
            return Ok(());
        };
        let company = self
            .world
            .clients
            .get(&deal.client_id)
            .and_then(|c| c.client.as_ref())
            .is_some_and(|c| c.kind == ClientKind::Company);
        let term = if company {
            *self.dice.pick(&[14, 30, 30])
        } else {
            *self.dice.pick(&[3, 7])
        };
        let issued = self.now.date_naive();
        let due_on = issued + Duration::days(term);
        self.books.invoice_number += 1;
        let invoice_id = self.dice.id();
        let command = InvoiceCommand::Issue(IssueInvoice {
            invoice_id,
            deal: self.world.deal(deal_id),
            number: format!(
                "INV-{}-{:06}",
                issued.format("%Y"),
                self.books.invoice_number
            ),
            amount: deal.amount,
            due_on,
        });
        let events = decide::<InvoiceState>("issue invoice", None, command)?;
        if !self.commit(self.clerk(deal.manager_id), events) {
            return Ok(());
        }
        let pay_by = |sim: &mut Sim, from: i64, to: i64| {
            let day = issued + Duration::days(sim.dice.int(from, to));
            sim.pay_at(day, invoice_id, 0);
        };
        match *self.dice.weighted(PAYERS) {
            Payer::OnTime => pay_by(self, 0, term),
            Payer::Late => pay_by(self, term + 1, term + 45),
            Payer::Partly => {
                let percent = *self.dice.pick(&[30, 40, 50, 50, 60, 70]);
                let part = (deal.amount * percent / 100).max(1);
                let day = issued + Duration::days(self.dice.int(0, term));
                self.pay_at(day, invoice_id, part);
                if self.dice.chance(0.6) {
                    pay_by(self, term, term + 40);
                }
            }
            Payer::Never => {}
        }
        Ok(())
    }

    /// Plans a payment of `amount` (0: all that is outstanding then) on `day`.
    fn pay_at(&mut self, day: NaiveDate, invoice_id: Uuid, amount: i64) {
        let midnight = day.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        if let Some(midnight) = midnight {
            let at = time::during_work(midnight, &mut self.dice).max(self.now);
            self.plan(at, Action::Payment(invoice_id, amount));
        }
    }

    /// A payment comes in; an invoice paid in full has its goods shipped soon
    /// after, when there are goods.
    pub(super) fn payment(&mut self, invoice_id: Uuid, amount: i64) -> Result<(), SeedError> {
        let Some(invoice) = self
            .world
            .invoices
            .get(&invoice_id)
            .and_then(|i| i.invoice.clone())
        else {
            return Ok(());
        };
        let outstanding = invoice.outstanding();
        let amount = if amount == 0 {
            outstanding
        } else {
            amount.min(outstanding)
        };
        if amount <= 0 {
            return Ok(());
        }
        let manager = self
            .world
            .deals
            .get(&invoice.deal_id)
            .and_then(|d| d.deal.as_ref())
            .map(|d| d.manager_id);
        let command = InvoiceCommand::Pay {
            invoice_id,
            payment_id: self.dice.id(),
            amount,
            paid_on: self.now.date_naive(),
        };
        let state = self.world.invoices.get(&invoice_id).cloned();
        let events = decide("receive payment", state.as_ref(), command)?;
        let actor = manager.map_or(Actor::Admin, |m| self.clerk(m));
        if !self.commit(actor, events) || amount < outstanding {
            return Ok(());
        }
        let goods = self
            .world
            .deals
            .get(&invoice.deal_id)
            .and_then(|d| d.deal.as_ref())
            .map(|d| {
                d.lines.iter().any(|l| {
                    self.books
                        .products
                        .iter()
                        .any(|(id, item)| *id == l.product_id && GOODS.contains(&item.category))
                })
            });
        let ships = match goods {
            Some(true) => 0.95,
            Some(false) => 0.1,
            None => 0.0,
        };
        if self.dice.chance(ships) {
            let later = self.now + Duration::minutes(self.dice.int(60, 5 * 1440));
            let at = time::working(later, &mut self.dice);
            self.plan(at, Action::Ship(invoice.deal_id));
        }
        Ok(())
    }

    /// The goods of a paid deal go out.
    pub(super) fn ship(&mut self, deal_id: Uuid) -> Result<(), SeedError> {
        let Some(manager) = self
            .world
            .deals
            .get(&deal_id)
            .and_then(|d| d.deal.as_ref())
            .map(|d| d.manager_id)
        else {
            return Ok(());
        };
        let note = self
            .dice
            .chance(0.6)
            .then(|| (*self.dice.pick(SHIPMENT_NOTES)).to_owned());
        let command = ShipmentCommand::Send(SendShipment {
            shipment_id: self.dice.id(),
            deal: self.world.deal(deal_id),
            shipped_on: self.now.date_naive(),
            note,
        });
        let events = decide::<ShipmentState>("send shipment", None, command)?;
        self.commit(self.clerk(manager), events);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_serves_every_line_in_a_handful_of_categories() {
        let categories: std::collections::BTreeSet<_> =
            CATALOGUE.iter().map(|i| i.category).collect();
        assert_eq!(categories.len(), 6);
        assert_eq!(CATALOGUE.len(), 36);
        for line in [Line::Companies, Line::Persons, Line::Renewals] {
            assert!(CATALOGUE.iter().filter(|i| i.lines.contains(&line)).count() >= 5);
        }
        let names: std::collections::BTreeSet<_> = CATALOGUE.iter().map(|i| i.name).collect();
        assert_eq!(names.len(), CATALOGUE.len(), "names are unique");
    }
}
