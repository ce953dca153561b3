//! Business time: the year the story spans, working hours, and the [`Agenda`] of
//! things still to happen, which hands them out in time order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc, Weekday};

use super::random::Dice;

/// How long the story runs before its end.
pub const SPAN_DAYS: i64 = 365;

/// The working day, in UTC hours (a team two or three hours east of UTC: 9:00 to 19:00).
const WORK_START_HOUR: u32 = 7;
const WORK_END_HOUR: u32 = 17;

/// The story's year: from [`SPAN_DAYS`] before `until` (at midnight UTC) to `until`.
#[derive(Debug, Clone, Copy)]
pub struct Timeline {
    /// The first instant of the story.
    pub start: DateTime<Utc>,
    /// The end: nothing happens at or after it.
    pub until: DateTime<Utc>,
}

impl Timeline {
    /// The year ending at the start of `until` (UTC).
    pub fn ending(until: NaiveDate) -> Self {
        let until = until.and_time(chrono::NaiveTime::MIN).and_utc();
        Timeline {
            start: until - Duration::days(SPAN_DAYS),
            until,
        }
    }

    /// Midnight of day `n` of the story (day 0 is the first).
    pub fn day(&self, n: i64) -> DateTime<Utc> {
        self.start + Duration::days(n)
    }

    /// How many whole days are left from `at` to the end.
    pub fn days_left(&self, at: DateTime<Utc>) -> f64 {
        (self.until - at).num_seconds().max(0) as f64 / 86_400.0
    }
}

/// True on Saturdays and Sundays.
pub fn weekend(at: DateTime<Utc>) -> bool {
    matches!(at.weekday(), Weekday::Sat | Weekday::Sun)
}

/// `at` if it falls in working hours, else when a manager gets to it: the next
/// working morning plus a few minutes, and after a weekend one of the first days
/// of the week (now and then someone works on a Saturday instead).
pub fn working(at: DateTime<Utc>, dice: &mut Dice) -> DateTime<Utc> {
    let in_hours = (WORK_START_HOUR..WORK_END_HOUR).contains(&at.hour());
    if in_hours && (!weekend(at) || dice.chance(0.08)) {
        return at;
    }
    let mut day = at.date_naive();
    if at.hour() >= WORK_END_HOUR {
        day = day.succ_opt().unwrap_or(day);
    }
    if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
        while matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            day = day.succ_opt().unwrap_or(day);
        }
        day += Duration::days(dice.int(0, 2));
    }
    let morning = day
        .and_hms_opt(WORK_START_HOUR, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or(at);
    morning + Duration::seconds(dice.int(60, 90 * 60))
}

/// A moment in working hours of the day starting at `midnight`, at random.
pub fn during_work(midnight: DateTime<Utc>, dice: &mut Dice) -> DateTime<Utc> {
    let from = i64::from(WORK_START_HOUR) * 3600;
    let to = i64::from(WORK_END_HOUR) * 3600;
    midnight + Duration::seconds(dice.int(from, to - 1))
}

/// A moment of the day starting at `midnight` when a request arrives: mostly in
/// working hours, some in the evening and at night.
pub fn arrival(midnight: DateTime<Utc>, dice: &mut Dice) -> DateTime<Utc> {
    if dice.chance(0.8) {
        during_work(midnight, dice)
    } else {
        midnight + Duration::seconds(dice.int(0, 86_399))
    }
}

/// Whole seconds: every time the generator records, so payload times equal
/// `occurred_at` as PostgreSQL stores it.
pub fn whole(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at)
}

/// What is still to happen, handed out in time order (in the order they were
/// planned when the time is the same), so the run is deterministic.
pub struct Agenda<A> {
    queue: BinaryHeap<Reverse<Entry<A>>>,
    planned: u64,
}

/// A planned action, ordered by its time, then by when it was planned.
struct Entry<A> {
    at: DateTime<Utc>,
    n: u64,
    action: A,
}

impl<A> PartialEq for Entry<A> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.n) == (other.at, other.n)
    }
}
impl<A> Eq for Entry<A> {}
impl<A> PartialOrd for Entry<A> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<A> Ord for Entry<A> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.n).cmp(&(other.at, other.n))
    }
}

impl<A> Default for Agenda<A> {
    fn default() -> Self {
        Agenda {
            queue: BinaryHeap::new(),
            planned: 0,
        }
    }
}

impl<A> Agenda<A> {
    /// An empty agenda.
    pub fn new() -> Self {
        Self::default()
    }

    /// Plans `action` at `at` (whole seconds).
    pub fn plan(&mut self, at: DateTime<Utc>, action: A) {
        self.planned += 1;
        self.queue.push(Reverse(Entry {
            at: whole(at),
            n: self.planned,
            action,
        }));
    }

    /// The earliest planned action, if it is before `until`.
    pub fn next_before(&mut self, until: DateTime<Utc>) -> Option<(DateTime<Utc>, A)> {
        match self.queue.peek() {
            Some(Reverse(entry)) if entry.at < until => {}
            _ => return None,
        }
        self.queue.pop().map(|Reverse(e)| (e.at, e.action))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agenda_hands_out_in_time_then_plan_order() {
        let t = Timeline::ending(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default());
        let mut agenda = Agenda::new();
        agenda.plan(t.day(2), "c");
        agenda.plan(t.day(1), "a");
        agenda.plan(t.day(1), "b");
        agenda.plan(t.until, "never");
        let order: Vec<_> = std::iter::from_fn(|| agenda.next_before(t.until))
            .map(|(_, a)| a)
            .collect();
        assert_eq!(order, ["a", "b", "c"]);
    }

    #[test]
    fn weekend_work_moves_to_the_start_of_the_week() {
        let mut dice = Dice::new(1);
        // A Saturday evening.
        let saturday: DateTime<Utc> = "2026-02-28T21:00:00Z".parse().unwrap_or_default();
        for _ in 0..50 {
            let at = working(saturday, &mut dice);
            assert!(matches!(
                at.weekday(),
                Weekday::Mon | Weekday::Tue | Weekday::Wed
            ));
            assert!(at.hour() >= WORK_START_HOUR && at.hour() < WORK_END_HOUR);
        }
        let tuesday_noon: DateTime<Utc> = "2026-03-03T12:00:00Z".parse().unwrap_or_default();
        assert_eq!(working(tuesday_noon, &mut dice), tuesday_noon);
    }
}
