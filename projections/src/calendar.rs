//! The UTC calendar buckets the rollups count by (the manager KPIs' and the leads'):
//! days, dekads (the 1st–10th, 11th–20th and 21st–last of a month) and months; and
//! the whole buckets inside a period.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, Utc};

/// Midnight UTC of `day`.
pub(crate) fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// The first day of `day`'s month.
pub(crate) fn month_of(day: NaiveDate) -> NaiveDate {
    day - Days::new(u64::from(day.day0()))
}

/// The first day of `day`'s dekad.
pub(crate) fn dekad_of(day: NaiveDate) -> NaiveDate {
    let first = (day.day0() / 10).min(2) * 10;
    day - Days::new(u64::from(day.day0() - first))
}

/// The first day of the month after `month`'s.
pub(crate) fn next_month(month: NaiveDate) -> Option<NaiveDate> {
    month_of(month).checked_add_months(Months::new(1))
}

/// The first day of the dekad after `day`'s.
pub(crate) fn next_dekad(day: NaiveDate) -> Option<NaiveDate> {
    let dekad = dekad_of(day);
    if dekad.day0() == 20 {
        next_month(dekad)
    } else {
        dekad.checked_add_days(Days::new(10))
    }
}

/// The span of the whole buckets (as `floor` and `next` define them) inside
/// `[from, to)`; `(to, to)` when none fits.
pub(crate) fn whole(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    floor: impl Fn(NaiveDate) -> NaiveDate,
    next: impl Fn(NaiveDate) -> Option<NaiveDate>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let first = floor(from.date_naive());
    let start = if midnight(first) == from {
        Some(first)
    } else {
        next(first)
    };
    let end = floor(to.date_naive());
    match start {
        Some(start) if start < end => (midnight(start), midnight(end)),
        _ => (to, to),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap_or_default()
    }

    #[test]
    fn dekads_start_on_the_1st_11th_and_21st() {
        assert_eq!(dekad_of(d("2026-02-10")), d("2026-02-01"));
        assert_eq!(dekad_of(d("2026-02-11")), d("2026-02-11"));
        assert_eq!(dekad_of(d("2026-01-31")), d("2026-01-21"));
        assert_eq!(next_dekad(d("2026-02-25")), Some(d("2026-03-01")));
        assert_eq!(next_dekad(d("2026-02-05")), Some(d("2026-02-11")));
        assert_eq!(next_month(d("2026-12-31")), Some(d("2027-01-01")));
    }

    #[test]
    fn whole_buckets_inside_a_period() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap_or_default();
        let (from, to) = (t("2026-01-15T12:00:00Z"), t("2026-03-20T08:00:00Z"));
        assert_eq!(
            whole(from, to, month_of, next_month),
            (t("2026-02-01T00:00:00Z"), t("2026-03-01T00:00:00Z"))
        );
        assert_eq!(
            whole(from, to, dekad_of, next_dekad),
            (t("2026-01-21T00:00:00Z"), t("2026-03-11T00:00:00Z"))
        );
        let (from, to) = (t("2026-01-02T00:00:00Z"), t("2026-01-20T00:00:00Z"));
        assert_eq!(whole(from, to, month_of, next_month), (to, to));
        assert_eq!(whole(from, to, |d| d, |d| d.succ_opt()), (from, to));
    }
}
