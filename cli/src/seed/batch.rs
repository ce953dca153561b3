//! [`Batcher`]: gathers the commands' events into large multi-stream appends.
//!
//! An append stores each stream's events together, streams in the order they first
//! appear, so an event of a stream met earlier in the batch lands before events
//! that were made before it. That is harmless (each stream keeps its own order)
//! unless the event names an entity created later in the batch: then it would come
//! before that entity's creation, which the API never does. Such a command starts
//! a new batch instead, and so the log's order keeps every reference after what it
//! names. Commands are never split.

use std::collections::{HashMap, VecDeque};

use crm_eventlog::{ExpectedVersion, NewEvent, StreamAppend};
use uuid::Uuid;

/// One append: several streams, each expected at the version it had before.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The streams and their events, in the order they are to be stored.
    pub appends: Vec<StreamAppend>,
    /// How many events it holds.
    pub events: usize,
}

/// An event of a command, with its stream's version before it and what it names.
pub struct Staged {
    /// The stream.
    pub stream: String,
    /// The entity of the stream.
    pub entity: Uuid,
    /// The stream's version before this event.
    pub version_before: i64,
    /// The other entities the event names.
    pub names: Vec<Uuid>,
    /// The event.
    pub event: NewEvent,
}

/// Gathers commands into batches of at most `max` events (a larger command alone).
pub struct Batcher {
    max: usize,
    appends: Vec<StreamAppend>,
    /// Each stream's place in `appends`.
    index: HashMap<String, usize>,
    /// The entities created in this batch, with their stream's place.
    created: HashMap<Uuid, usize>,
    events: usize,
    ready: VecDeque<Batch>,
}

impl Batcher {
    /// A batcher making appends of about `max` events.
    pub fn new(max: usize) -> Self {
        Batcher {
            max: max.max(1),
            appends: Vec::new(),
            index: HashMap::new(),
            created: HashMap::new(),
            events: 0,
            ready: VecDeque::new(),
        }
    }

    /// Adds one command's events, cutting the batch before it when they would not
    /// fit or would come before an entity they name.
    pub fn push(&mut self, command: Vec<Staged>) {
        if self.events > 0 && (self.events + command.len() > self.max || self.misplaces(&command)) {
            self.cut();
        }
        for staged in command {
            self.add(staged);
        }
    }

    /// True when an event of `command` would land before the creation of an entity
    /// it names.
    fn misplaces(&self, command: &[Staged]) -> bool {
        let mut places = self.appends.len();
        let mut own: HashMap<&str, usize> = HashMap::new();
        let mut created: HashMap<Uuid, usize> = HashMap::new();
        for staged in command {
            let stream = staged.stream.as_str();
            let place = match self.index.get(stream).or_else(|| own.get(stream)) {
                Some(place) => *place,
                None => {
                    own.insert(stream, places);
                    if staged.version_before == 0 {
                        created.insert(staged.entity, places);
                    }
                    places += 1;
                    continue;
                }
            };
            let later = |id: &Uuid| {
                self.created
                    .get(id)
                    .or_else(|| created.get(id))
                    .is_some_and(|at| *at > place)
            };
            if staged.names.iter().any(later) {
                return true;
            }
        }
        false
    }

    fn add(&mut self, staged: Staged) {
        self.events += 1;
        if let Some(place) = self.index.get(&staged.stream) {
            self.appends[*place].events.push(staged.event);
            return;
        }
        let expected = match staged.version_before {
            0 => ExpectedVersion::NoStream,
            v => ExpectedVersion::Exact(v),
        };
        let place = self.appends.len();
        if staged.version_before == 0 {
            self.created.insert(staged.entity, place);
        }
        self.index.insert(staged.stream.clone(), place);
        self.appends.push(StreamAppend::new(
            staged.stream,
            expected,
            vec![staged.event],
        ));
    }

    /// Closes the batch being gathered, if it holds anything.
    pub fn cut(&mut self) {
        if self.events == 0 {
            return;
        }
        self.index.clear();
        self.created.clear();
        self.ready.push_back(Batch {
            appends: std::mem::take(&mut self.appends),
            events: std::mem::take(&mut self.events),
        });
    }

    /// The oldest closed batch, if any.
    pub fn take(&mut self) -> Option<Batch> {
        self.ready.pop_front()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn staged(entity: u128, version_before: i64, names: &[u128]) -> Staged {
        Staged {
            stream: format!("x-{}", id(entity)),
            entity: id(entity),
            version_before,
            names: names.iter().map(|n| id(*n)).collect(),
            event: NewEvent::new("T", serde_json::json!({})),
        }
    }

    #[test]
    fn a_stream_met_again_joins_its_events() {
        let mut b = Batcher::new(100);
        b.push(vec![staged(1, 0, &[]), staged(1, 1, &[])]);
        b.push(vec![staged(2, 0, &[1])]);
        b.push(vec![staged(1, 2, &[9])]);
        b.cut();
        let batch = b.take().unwrap();
        assert_eq!(batch.events, 4);
        assert_eq!(batch.appends.len(), 2);
        assert_eq!(batch.appends[0].events.len(), 3);
        assert_eq!(batch.appends[0].expected, ExpectedVersion::NoStream);
        assert!(b.take().is_none());
    }

    #[test]
    fn an_event_naming_a_later_creation_starts_a_new_batch() {
        let mut b = Batcher::new(100);
        b.push(vec![staged(1, 0, &[])]);
        b.push(vec![staged(2, 0, &[])]);
        // Back to 1, naming 2, created after 1 in this batch.
        b.push(vec![staged(1, 1, &[2])]);
        let first = b.take().unwrap();
        assert_eq!(first.events, 2);
        b.cut();
        let second = b.take().unwrap();
        assert_eq!(second.appends[0].expected, ExpectedVersion::Exact(1));
        // A conversion: client and deal created, then the lead (met before) names them.
        let mut b = Batcher::new(100);
        b.push(vec![staged(10, 0, &[])]);
        b.push(vec![
            staged(11, 0, &[]),
            staged(12, 0, &[11]),
            staged(10, 1, &[11, 12]),
        ]);
        assert_eq!(b.take().map(|x| x.events), Some(1));
    }

    #[test]
    fn batches_are_cut_at_the_size_but_commands_are_whole() {
        let mut b = Batcher::new(3);
        b.push(vec![staged(1, 0, &[]), staged(2, 0, &[])]);
        b.push(vec![staged(3, 0, &[]), staged(4, 0, &[])]);
        assert_eq!(b.take().map(|x| x.events), Some(2));
        b.push(vec![
            staged(5, 0, &[]),
            staged(6, 0, &[]),
            staged(7, 0, &[]),
            staged(8, 0, &[]),
        ]);
        assert_eq!(b.take().map(|x| x.events), Some(2));
        b.cut();
        assert_eq!(b.take().map(|x| x.events), Some(4));
    }
}
