//! Reading several streams interleaved by position, a page at a time.

use crate::common::ev;
use crm_eventlog::{EventLog, ExpectedVersion};
use sqlx::PgPool;

#[sqlx::test(migrator = "crm_eventlog::MIGRATOR")]
async fn several_streams_read_by_position_in_pages(pool: PgPool) {
    let log = EventLog::new(pool);
    // Four streams appended round-robin; "other" is never asked for.
    let mut positions = Vec::new();
    for n in 0..5 {
        for stream in ["a-1", "b-1", "c-1", "other-1"] {
            let out = log
                .append(stream, ExpectedVersion::Any, vec![ev("Happened", n)])
                .await
                .unwrap();
            if stream != "other-1" {
                positions.push((out.last_position(), stream));
            }
        }
    }
    // One more on "a" only: a stream can run ahead of the others.
    for n in 5..8 {
        let out = log
            .append("a-1", ExpectedVersion::Any, vec![ev("Happened", n)])
            .await
            .unwrap();
        positions.push((out.last_position(), "a-1"));
    }
    // Duplicates and unknown streams in the list change nothing.
    let streams: Vec<String> = ["c-1", "a-1", "b-1", "a-1", "nobody-1"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let all = log
        .read_streams_by_position(&streams, 0, 1000)
        .await
        .unwrap();
    let got: Vec<(i64, &str)> = all
        .iter()
        .map(|e| (e.position, e.stream.as_str()))
        .collect();
    let want: Vec<(i64, &str)> = positions.clone();
    assert_eq!(got, want);

    for limit in [1, 2, 4, 7] {
        let mut after = 0;
        let mut paged = Vec::new();
        loop {
            let page = log
                .read_streams_by_position(&streams, after, limit)
                .await
                .unwrap();
            assert!(page.len() <= limit);
            paged.extend(page.iter().map(|e| e.position));
            match page.last() {
                Some(last) if page.len() == limit => after = last.position,
                _ => break,
            }
        }
        let want: Vec<i64> = positions.iter().map(|(p, _)| *p).collect();
        assert_eq!(paged, want, "limit {limit}");
    }
    assert!(log
        .read_streams_by_position(&[], 0, 10)
        .await
        .unwrap()
        .is_empty());
    log.close().await;
}
