//! Property tests: whatever the arrival order and evictions, a pot equals the business-time fold.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use shared::domain::pot::{CHECKPOINT_EVERY, fold};
use shared::domain::{
    Checkpoint, Event, EventKind, LocalDateTime, Pot, PotHistory, PotState, StoredPot,
};

/// A store that keeps every event and the whole valid stack, driven like the worker drives one.
struct FullStore {
    state: PotState,
    events: Vec<Event>,
    checkpoints: Vec<Checkpoint>,
}

impl FullStore {
    fn new() -> FullStore {
        FullStore {
            state: PotState::INITIAL,
            events: Vec::new(),
            checkpoints: Vec::new(),
        }
    }

    fn load(&self) -> Pot {
        Pot::from_stored(StoredPot::from_full(
            self.state,
            &self.events,
            &self.checkpoints,
        ))
    }

    /// Loads what the event needs (at most two rounds), records it and commits the change.
    fn record(&mut self, pot: &mut Pot, kind: EventKind, n: f64, at: LocalDateTime) {
        let mut rounds = 0;
        while let Some(request) = pot.history_needed(at) {
            rounds += 1;
            assert!(rounds <= 2, "a third history round: {request:?}");
            pot.extend_history(PotHistory::from_full(
                &self.events,
                &self.checkpoints,
                &request,
            ));
        }
        let change = pot
            .record(kind, n, at, format!("r{}", pot.version() + 1))
            .unwrap();
        assert_eq!(change.event.position, self.events.len() as u64 + 1);
        change.apply_to(&mut self.events, &mut self.checkpoints);
        self.state = change.state;
    }

    /// Every stored checkpoint is the fold of its prefix and a valid base for what follows.
    fn check_stack(&self) -> Result<(), TestCaseError> {
        let mut previous: Option<&Checkpoint> = None;
        for c in &self.checkpoints {
            let prefix: Vec<&Event> = self
                .events
                .iter()
                .filter(|e| e.position <= c.position)
                .collect();
            prop_assert_eq!(c.state, fold(prefix));
            let later = self.events.iter().filter(|e| e.position > c.position);
            prop_assert!(later.into_iter().all(|e| e.at >= c.state.last_updated));
            if let Some(p) = previous {
                prop_assert!(p.position < c.position);
                prop_assert!(p.state.last_updated <= c.state.last_updated);
            }
            previous = Some(c);
        }
        Ok(())
    }
}

fn kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        Just(EventKind::Delivery),
        Just(EventKind::Sale),
        Just(EventKind::MoveOut),
        Just(EventKind::MoveIn),
        Just(EventKind::Count),
    ]
}

/// Small quantities with fractions and negatives, so that shortfalls and returns are common.
fn quantity() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-8i32..=20).prop_map(|q| f64::from(q) * 0.25),
        -1e3f64..1e3,
        Just(0.0),
    ]
}

fn minute(m: i64) -> LocalDateTime {
    LocalDateTime::from_epoch(1_733_529_600 + 60 * m, 0).unwrap()
}

/// Arrival offsets: either anywhere in a short window (many ties), or mostly moving forward with
/// occasional steps back (checkpoints survive for a while, then get invalidated).
fn timeline(len: usize) -> impl Strategy<Value = Vec<i64>> {
    prop_oneof![
        prop::collection::vec(0i64..12, len),
        prop::collection::vec(prop_oneof![8 => 0i64..3, 1 => -40i64..0], len).prop_map(|steps| {
            steps
                .iter()
                .scan(0i64, |t, s| {
                    *t += s;
                    Some(*t)
                })
                .collect()
        }),
    ]
}

/// Events in arrival order, plus for each one whether the pot is evicted before it.
fn history() -> impl Strategy<Value = Vec<(EventKind, f64, i64, bool)>> {
    (1usize..=3 * CHECKPOINT_EVERY as usize + 10).prop_flat_map(|len| {
        (
            prop::collection::vec(kind(), len),
            prop::collection::vec(quantity(), len),
            timeline(len),
            prop::collection::vec(prop::bool::weighted(0.05), len),
        )
            .prop_map(move |(kinds, quantities, times, evictions)| {
                (0..len)
                    .map(|i| (kinds[i], quantities[i], times[i], evictions[i]))
                    .collect()
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn recording_in_any_order_equals_the_business_time_fold(events in history()) {
        let mut store = FullStore::new();
        let mut pot = Pot::empty();
        for (kind, n, m, _) in &events {
            store.record(&mut pot, *kind, *n, minute(*m));
        }
        // Bit-identical: the same operations in the same order.
        prop_assert_eq!(*pot.state(), fold(&store.events));
        prop_assert_eq!(store.state, *pot.state());
        store.check_stack()?;
    }

    #[test]
    fn evictions_at_any_point_change_nothing(events in history()) {
        let mut store = FullStore::new();
        let mut pot = Pot::empty();
        for (kind, n, m, evict) in &events {
            if *evict {
                pot = store.load();
                prop_assert_eq!(pot.version(), store.events.len() as u64);
            }
            store.record(&mut pot, *kind, *n, minute(*m));
            prop_assert_eq!(*pot.state(), fold(&store.events));
        }
        store.check_stack()?;
        let reloaded = store.load();
        prop_assert_eq!(*reloaded.state(), *pot.state());
    }

    #[test]
    fn distinct_timestamps_make_the_arrival_order_irrelevant(
        (events, order) in prop::collection::vec((kind(), quantity(), 0i64..6), 1..150)
            .prop_flat_map(|v| {
                let indices: Vec<usize> = (0..v.len()).collect();
                (Just(v), Just(indices).prop_shuffle())
            })
    ) {
        // Ties are broken by storage order, so every event gets its own timestamp here.
        let at = |i: usize| minute(events[i].2 * 1000 + i as i64);
        let mut sorted = FullStore::new();
        let mut pot_sorted = Pot::empty();
        let mut arrival: Vec<usize> = (0..events.len()).collect();
        arrival.sort_by_key(|i| at(*i));
        for i in arrival {
            sorted.record(&mut pot_sorted, events[i].0, events[i].1, at(i));
        }
        let mut shuffled = FullStore::new();
        let mut pot_shuffled = Pot::empty();
        for i in order {
            shuffled.record(&mut pot_shuffled, events[i].0, events[i].1, at(i));
        }
        prop_assert_eq!(*pot_shuffled.state(), *pot_sorted.state());
    }
}
