//! Stock pots: state as the fold of events in business-time order, with checkpoints so that
//! in-order events cost O(1) and out-of-order events rebuild from the nearest valid checkpoint.
//!
//! The checkpoint stack: checkpoint `P` holds the fold of every event with position ≤ `P`. It is a
//! valid base while every later event sorts after all of those, i.e. has `at ≥ P.last_updated`;
//! an event recorded with an earlier `at` invalidates it for good, so it is popped. Positions and
//! `last_updated` therefore both increase from the bottom of the stack to its top.

use serde::{Deserialize, Serialize};

use super::event::{Event, EventKind};
use super::time::LocalDateTime;

/// How often (in stored events) a checkpoint is pushed.
pub const CHECKPOINT_EVERY: u64 = 64;

/// At most this many checkpoints are kept in memory (the top of the stack); the rest stay in the
/// store and are loaded only for an event older than all of these.
const MAX_LOADED_CHECKPOINTS: usize = 64;

/// The state visible through the API.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PotState {
    pub quantity: f64,
    pub pending_adjustment: f64,
    pub last_updated: LocalDateTime,
}

impl PotState {
    /// A pot that has never received an event.
    pub const INITIAL: PotState = PotState {
        quantity: 0.0,
        pending_adjustment: 0.0,
        last_updated: LocalDateTime::MIN,
    };

    /// Applies one event's effect (docs/api.md §14.2), or refuses it, changing nothing, when the
    /// quantity or the pending adjustment it leaves would not be a finite double.
    ///
    /// `last_updated` becomes the greatest timestamp applied; in fold order that is `at` itself.
    pub fn apply(
        &mut self,
        kind: EventKind,
        quantity: f64,
        at: LocalDateTime,
    ) -> Result<(), NonFinite> {
        let next = self.after(kind, quantity, at);
        if !(next.quantity.is_finite() && next.pending_adjustment.is_finite()) {
            return Err(NonFinite);
        }
        *self = next;
        Ok(())
    }

    /// The state after one event, without the finiteness check.
    fn after(mut self, kind: EventKind, quantity: f64, at: LocalDateTime) -> PotState {
        let n = quantity;
        match kind {
            EventKind::Delivery | EventKind::MoveIn => self.quantity += n,
            EventKind::MoveOut => self.quantity -= n,
            EventKind::Count => self.quantity = n,
            // A negative sale is a return and never takes the shortfall branch, even below zero.
            EventKind::Sale if n < 0.0 => self.quantity -= n,
            EventKind::Sale => {
                let rest = self.quantity - n;
                if rest >= 0.0 {
                    self.quantity = rest;
                } else {
                    self.quantity = 0.0;
                    self.pending_adjustment += rest;
                }
            }
        }
        self.last_updated = self.last_updated.max(at);
        self
    }

    /// This state with `events` applied in fold order: timestamp, then storage position. Every
    /// intermediate state must be finite too: a later refold from a checkpoint passes through it.
    fn folded<'a>(
        mut self,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Result<PotState, NonFinite> {
        for e in sorted(events) {
            self.apply(e.kind, e.quantity, e.at)?;
        }
        Ok(self)
    }
}

/// Events in fold order: timestamp, then storage position.
fn sorted<'a>(events: impl IntoIterator<Item = &'a Event>) -> Vec<&'a Event> {
    let mut sorted: Vec<&Event> = events.into_iter().collect();
    sorted.sort_by_key(|e| (e.at, e.position));
    sorted
}

/// An event refused because it would leave a quantity or a pending adjustment that is not a
/// finite double (an overflow to infinity, or the NaN that follows from one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the event would leave a quantity that is not a finite number")]
pub struct NonFinite;

/// Folds events in business-time order (ties by storage position) over the initial state.
///
/// The reference fold of stored events, all of which were admitted with finite results; it is
/// not checked again.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> PotState {
    sorted(events)
        .into_iter()
        .fold(PotState::INITIAL, |state, e| {
            state.after(e.kind, e.quantity, e.at)
        })
}

/// The state after folding every event with position ≤ `position`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub position: u64,
    pub state: PotState,
}

impl Checkpoint {
    /// The empty pot as a base: nothing folded, position 0.
    const ORIGIN: Checkpoint = Checkpoint {
        position: 0,
        state: PotState::INITIAL,
    };
}

/// What the store hands over when a pot is loaded.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredPot {
    pub state: PotState,
    /// Position of the last stored event (0 for a pot without events).
    pub version: u64,
    /// Length of the whole valid checkpoint stack in the store.
    pub checkpoint_count: u64,
    /// The top of the valid checkpoint stack (at most one entry is required).
    pub top_checkpoint: Option<Checkpoint>,
    /// Every event stored after the top checkpoint (or all events without one), storage order.
    pub events: Vec<Event>,
}

impl StoredPot {
    /// What to load from a store that keeps the full event list (storage order), the whole valid
    /// checkpoint stack (bottom first) and the current state.
    pub fn from_full(state: PotState, events: &[Event], checkpoints: &[Checkpoint]) -> StoredPot {
        let top_checkpoint = checkpoints.last().copied();
        let after = top_checkpoint.map_or(0, |c| c.position);
        StoredPot {
            state,
            version: events.last().map_or(0, |e| e.position),
            checkpoint_count: checkpoints.len() as u64,
            top_checkpoint,
            events: events
                .iter()
                .filter(|e| e.position > after)
                .cloned()
                .collect(),
        }
    }
}

/// What more the pot needs from the store before it can accept an event at a given timestamp.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryRequest {
    /// Load the whole valid checkpoint stack.
    pub all_checkpoints: bool,
    /// Load the events with `from < position ≤ to` (storage order); `from == to` asks for none.
    pub events_from: u64,
    pub events_to: u64,
}

/// The answer to a [`HistoryRequest`].
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PotHistory {
    /// The whole valid stack, when it was asked for.
    pub checkpoints: Option<Vec<Checkpoint>>,
    pub events: Vec<Event>,
}

impl PotHistory {
    /// Answers `request` from the full event list (storage order) and the whole valid stack.
    pub fn from_full(
        events: &[Event],
        checkpoints: &[Checkpoint],
        request: &HistoryRequest,
    ) -> PotHistory {
        let wanted = request.events_from + 1..=request.events_to;
        PotHistory {
            checkpoints: request.all_checkpoints.then(|| checkpoints.to_vec()),
            events: events
                .iter()
                .filter(|e| wanted.contains(&e.position))
                .cloned()
                .collect(),
        }
    }
}

/// What one recorded event changes in the store, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct PotChange {
    /// The new event, appended at `event.position`.
    pub event: Event,
    /// The pot state after the event (the read model / checkpoint hash).
    pub state: PotState,
    /// If set, the valid checkpoint stack is cut to this length before any push.
    pub truncate_checkpoints_to: Option<u64>,
    /// A checkpoint pushed on top of the stack after the event.
    pub push_checkpoint: Option<Checkpoint>,
}

impl PotChange {
    /// Applies this change to a full event list and a whole valid stack, in the prescribed order:
    /// append the event, cut the stack, push the checkpoint.
    pub fn apply_to(&self, events: &mut Vec<Event>, checkpoints: &mut Vec<Checkpoint>) {
        events.push(self.event.clone());
        if let Some(len) = self.truncate_checkpoints_to {
            checkpoints.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        }
        checkpoints.extend(self.push_checkpoint);
    }
}

/// One stock pot held in memory by the worker that owns its shard.
///
/// Holds the current state, the top of the checkpoint stack and the events after the lowest
/// checkpoint held (or all events). Older history is loaded only when an out-of-order event
/// needs it ([`Pot::history_needed`]).
#[derive(Clone, Debug)]
pub struct Pot {
    state: PotState,
    version: u64,
    /// Length of the whole valid stack (in the store).
    checkpoint_count: u64,
    /// The top `checkpoints.len()` entries of the stack, bottom first.
    checkpoints: Vec<Checkpoint>,
    /// Every event after position `loaded_from()`, storage order.
    events: Vec<Event>,
}

impl Pot {
    /// A pot without events.
    pub fn empty() -> Pot {
        Pot {
            state: PotState::INITIAL,
            version: 0,
            checkpoint_count: 0,
            checkpoints: Vec::new(),
            events: Vec::new(),
        }
    }

    /// A pot as loaded from the store.
    pub fn from_stored(stored: StoredPot) -> Pot {
        let checkpoints: Vec<Checkpoint> = stored.top_checkpoint.into_iter().collect();
        Pot {
            state: stored.state,
            version: stored.version,
            checkpoint_count: stored.checkpoint_count.max(checkpoints.len() as u64),
            checkpoints,
            events: stored.events,
        }
    }

    /// The current state.
    pub fn state(&self) -> &PotState {
        &self.state
    }

    /// Position of the last stored event.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Length of the whole valid checkpoint stack.
    pub fn checkpoint_count(&self) -> u64 {
        self.checkpoint_count
    }

    /// How many events are held in memory.
    pub fn loaded_event_count(&self) -> usize {
        self.events.len()
    }

    /// `None` when an event at `at` can be recorded with what is loaded; otherwise what to load.
    ///
    /// An event at or after `last_updated` needs nothing. An earlier one needs its base — the
    /// topmost checkpoint with `last_updated ≤ at`, or the empty pot when none qualifies — and
    /// every event after the base. When no loaded checkpoint qualifies and the stack is only
    /// partly loaded, the whole stack is asked for first (no events), then the missing events:
    /// with a correct store the loop `while let Some(r) = pot.history_needed(at)` ends after at
    /// most two loads.
    pub fn history_needed(&self, at: LocalDateTime) -> Option<HistoryRequest> {
        if at >= self.state.last_updated {
            return None;
        }
        let loaded_from = self.loaded_from();
        let base = match self.base_index(at) {
            Some(i) => self.checkpoints[i].position,
            None if self.stack_loaded() => 0,
            None => {
                return Some(HistoryRequest {
                    all_checkpoints: true,
                    events_from: loaded_from,
                    events_to: loaded_from,
                });
            }
        };
        (base < loaded_from).then_some(HistoryRequest {
            all_checkpoints: false,
            events_from: base,
            events_to: loaded_from,
        })
    }

    /// Adds history loaded for a [`HistoryRequest`].
    ///
    /// A whole stack replaces the loaded one. Events are kept if they extend the loaded run of
    /// events downwards without a gap; others (already loaded, or beyond a gap) are ignored.
    pub fn extend_history(&mut self, history: PotHistory) {
        if let Some(stack) = history.checkpoints {
            self.checkpoint_count = stack.len() as u64;
            self.checkpoints = stack;
        }
        let loaded_from = self.loaded_from();
        let mut older: Vec<Event> = history
            .events
            .into_iter()
            .filter(|e| e.position <= loaded_from)
            .collect();
        older.sort_by_key(|e| e.position);
        older.dedup_by_key(|e| e.position);
        let (mut start, mut next) = (older.len(), loaded_from);
        while start > 0 && next > 0 && older[start - 1].position == next {
            start -= 1;
            next -= 1;
        }
        older.drain(..start);
        older.append(&mut self.events);
        self.events = older;
    }

    /// Records a new event at position `version + 1` and returns what to persist, or refuses it
    /// with [`NonFinite`], changing nothing, when the pot's fold would pass through a quantity or
    /// pending adjustment that is not finite. The caller must have satisfied
    /// [`Pot::history_needed`] for `at` first.
    ///
    /// Should the history be missing anyway, the event is applied on top of the current state and
    /// the whole stack is dropped (a later rebuild then refolds from the empty pot); debug builds
    /// panic instead.
    pub fn record(
        &mut self,
        kind: EventKind,
        quantity: f64,
        at: LocalDateTime,
        id: String,
    ) -> Result<PotChange, NonFinite> {
        debug_assert!(
            self.history_needed(at).is_none(),
            "history not loaded for {at}"
        );
        self.evict(at);
        let position = self.version + 1;
        let event = Event {
            kind,
            quantity,
            at,
            id,
            position,
        };
        let truncate_checkpoints_to = if at >= self.state.last_updated {
            self.state.apply(kind, quantity, at)?;
            None
        } else {
            self.rebuild_with(&event)?
        };
        self.events.push(event.clone());
        self.version = position;
        let push_checkpoint = position
            .is_multiple_of(CHECKPOINT_EVERY)
            .then(|| self.push_checkpoint());
        Ok(PotChange {
            event,
            state: self.state,
            truncate_checkpoints_to,
            push_checkpoint,
        })
    }

    /// Whether `events`, recorded one after the other, would all be accepted; nothing changes.
    ///
    /// Events in order are tried on a copy of the state (O(1) each); when one is earlier than
    /// the state, they are all recorded on a copy of the pot, exactly as they would be for real.
    /// The caller must have satisfied [`Pot::history_needed`] for each `at`.
    pub fn admits(&self, events: &[(EventKind, f64, LocalDateTime)]) -> Result<(), NonFinite> {
        let mut state = self.state;
        for &(kind, quantity, at) in events {
            if at < state.last_updated {
                let mut copy = self.clone();
                for &(kind, quantity, at) in events {
                    copy.record(kind, quantity, at, String::new())?;
                }
                return Ok(());
            }
            state.apply(kind, quantity, at)?;
        }
        Ok(())
    }

    /// Position after which every event is in memory.
    fn loaded_from(&self) -> u64 {
        self.events
            .first()
            .map_or(self.version, |e| e.position.saturating_sub(1))
    }

    /// Whether the whole valid stack is in memory.
    fn stack_loaded(&self) -> bool {
        self.checkpoints.len() as u64 >= self.checkpoint_count
    }

    /// Index of the topmost loaded checkpoint that stays valid after an event at `at`.
    fn base_index(&self, at: LocalDateTime) -> Option<usize> {
        self.checkpoints
            .iter()
            .rposition(|c| c.state.last_updated <= at)
    }

    /// Pops the checkpoints `event` invalidates and refolds from the base; returns the new stack
    /// length if any checkpoint was popped.
    /// Nothing changes when the refold is refused.
    fn rebuild_with(&mut self, event: &Event) -> Result<Option<u64>, NonFinite> {
        let (keep, base) = match self.base_index(event.at) {
            Some(i) => (i + 1, self.checkpoints[i]),
            None => (0, Checkpoint::ORIGIN),
        };
        if base.position < self.loaded_from() || (keep == 0 && !self.stack_loaded()) {
            // The caller skipped `history_needed`: no correct rebuild is possible. Dropping every
            // checkpoint keeps the stack valid whatever the order applied here.
            self.state.apply(event.kind, event.quantity, event.at)?;
            self.checkpoints.clear();
            self.checkpoint_count = 0;
            return Ok(Some(0));
        }
        let later = self.events.iter().filter(|e| e.position > base.position);
        let state = base.state.folded(later.chain([event]))?;
        let popped = self.checkpoints.len() - keep;
        self.checkpoints.truncate(keep);
        self.checkpoint_count = self.checkpoint_count.saturating_sub(popped as u64);
        self.state = state;
        Ok((popped > 0).then_some(self.checkpoint_count))
    }

    /// Pushes a checkpoint at the current version. The events it includes, and checkpoints
    /// beyond [`MAX_LOADED_CHECKPOINTS`], leave memory only at the next event that does not need
    /// them ([`Pot::evict`]): one command may record several events on one pot (a delivery with
    /// two lines for one product) and is stepped with nothing loaded in between, so an earlier
    /// second line must still find the history the first one had.
    fn push_checkpoint(&mut self) -> Checkpoint {
        let checkpoint = Checkpoint {
            position: self.version,
            state: self.state,
        };
        self.checkpoints.push(checkpoint);
        self.checkpoint_count += 1;
        checkpoint
    }

    /// Drops from memory what an event at `at` does not need: the events the top checkpoint
    /// includes, unless `at` is earlier than that checkpoint, and the lowest checkpoints beyond
    /// [`MAX_LOADED_CHECKPOINTS`], unless one of them is the base for `at`. Memory stays bounded:
    /// an event earlier than the top checkpoint pops it ([`Pot::rebuild_with`]).
    fn evict(&mut self, at: LocalDateTime) {
        if let Some(top) = self.checkpoints.last()
            && top.state.last_updated <= at
        {
            let covered = top.position;
            self.events.retain(|e| e.position > covered);
        }
        let excess = self
            .checkpoints
            .len()
            .saturating_sub(MAX_LOADED_CHECKPOINTS);
        if excess > 0 && self.base_index(at).is_some_and(|base| base >= excess) {
            self.checkpoints.drain(..excess);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use EventKind::{Count, Delivery, MoveIn, MoveOut, Sale};

    fn at(time: &str) -> LocalDateTime {
        LocalDateTime::parse(&format!("2024-12-07T{time}")).unwrap()
    }

    fn after(events: &[(EventKind, f64, &str)]) -> PotState {
        let mut state = PotState::INITIAL;
        for (kind, n, time) in events {
            state.apply(*kind, *n, at(time)).unwrap();
        }
        state
    }

    fn qp(state: &PotState) -> (f64, f64) {
        (state.quantity, state.pending_adjustment)
    }

    /// A store that keeps everything, maintained only through [`PotChange::apply_to`].
    #[derive(Default)]
    struct SimStore {
        events: Vec<Event>,
        checkpoints: Vec<Checkpoint>,
        state: Option<PotState>,
        /// History loads made for the last recorded event.
        loads: usize,
    }

    impl SimStore {
        fn load(&self) -> Pot {
            let state = self.state.unwrap_or(PotState::INITIAL);
            Pot::from_stored(StoredPot::from_full(state, &self.events, &self.checkpoints))
        }

        /// Loads what `pot` needs, records and persists.
        fn record(
            &mut self,
            pot: &mut Pot,
            kind: EventKind,
            n: f64,
            at: LocalDateTime,
        ) -> PotChange {
            self.try_record(pot, kind, n, at).unwrap()
        }

        /// [`SimStore::record`], persisting nothing when the pot refuses the event.
        fn try_record(
            &mut self,
            pot: &mut Pot,
            kind: EventKind,
            n: f64,
            at: LocalDateTime,
        ) -> Result<PotChange, NonFinite> {
            self.loads = 0;
            while let Some(request) = pot.history_needed(at) {
                pot.extend_history(PotHistory::from_full(
                    &self.events,
                    &self.checkpoints,
                    &request,
                ));
                self.loads += 1;
                assert!(self.loads <= 2, "more than two loads");
            }
            let change = pot.record(kind, n, at, format!("r{}", self.events.len()))?;
            change.apply_to(&mut self.events, &mut self.checkpoints);
            self.state = Some(change.state);
            Ok(change)
        }

        /// Every stored checkpoint is the fold of its prefix and is followed only by later events.
        fn assert_stack_valid(&self) {
            for c in &self.checkpoints {
                assert_eq!(
                    c.state,
                    fold(self.events.iter().filter(|e| e.position <= c.position))
                );
                let later = self.events.iter().filter(|e| e.position > c.position);
                assert!(later.clone().all(|e| e.at >= c.state.last_updated));
            }
        }
    }

    /// A minute of the day as a timestamp, for long histories.
    fn minute(m: u64) -> LocalDateTime {
        LocalDateTime::parse(&format!("2024-12-07T{:02}:{:02}", m / 60 % 24, m % 60)).unwrap()
    }

    #[test]
    fn a_pot_without_events_reads_the_initial_values() {
        let pot = Pot::empty();
        assert_eq!(*pot.state(), PotState::INITIAL);
        assert_eq!(pot.version(), 0);
        assert_eq!(
            PotState::INITIAL.last_updated.to_string(),
            "-999999999-01-01T00:00:00"
        );
        assert_eq!(fold([]), PotState::INITIAL);
    }

    #[test]
    fn deliveries_and_move_ins_add_and_move_outs_subtract() {
        assert_eq!(
            qp(&after(&[
                (Delivery, 15.5, "10:00"),
                (MoveIn, 2.25, "10:01")
            ])),
            (17.75, 0.0)
        );
        assert_eq!(
            qp(&after(&[
                (Delivery, 10.0, "10:00"),
                (MoveOut, 1.25, "10:01")
            ])),
            (8.75, 0.0)
        );
        assert_eq!(
            qp(&after(&[(Delivery, 100.5, "10:00"), (Sale, 50.5, "10:01")])),
            (50.0, 0.0)
        );
    }

    #[test]
    fn a_sale_within_stock_only_lowers_the_quantity() {
        assert_eq!(
            qp(&after(&[(Delivery, 10.0, "10:00"), (Sale, 10.0, "10:01")])),
            (0.0, 0.0)
        );
    }

    #[test]
    fn a_sale_beyond_stock_moves_the_shortfall_to_pending_adjustment() {
        assert_eq!(
            qp(&after(&[(Delivery, 3.0, "10:00"), (Sale, 5.0, "10:01")])),
            (0.0, -2.0)
        );
        let state = after(&[(Sale, 1.0, "10:00"), (Delivery, 10.0, "10:01")]);
        assert_eq!(qp(&state), (10.0, -1.0));
    }

    #[test]
    fn a_negative_sale_is_a_return_even_below_zero() {
        assert_eq!(
            qp(&after(&[(Delivery, 3.0, "10:00"), (Sale, -2.0, "10:01")])),
            (5.0, 0.0)
        );
        assert_eq!(
            qp(&after(&[(Count, -10.0, "10:00"), (Sale, -3.0, "10:01")])),
            (-7.0, 0.0)
        );
    }

    #[test]
    fn a_negative_move_reverses_the_direction() {
        assert_eq!(qp(&after(&[(MoveOut, -4.0, "10:00")])), (4.0, 0.0));
        assert_eq!(qp(&after(&[(MoveIn, -4.0, "10:00")])), (-4.0, 0.0));
    }

    #[test]
    fn a_count_sets_the_quantity_and_keeps_pending_adjustment() {
        let state = after(&[(Sale, 5.0, "10:00"), (Count, 70.0, "10:01")]);
        assert_eq!(qp(&state), (70.0, -5.0));
        assert_eq!(
            qp(&after(&[(Delivery, 5.0, "10:00"), (Count, -3.0, "10:01")])),
            (-3.0, 0.0)
        );
    }

    #[test]
    fn an_event_that_would_leave_a_quantity_non_finite_is_refused_and_changes_nothing() {
        let huge = 1.7e308;
        let cases = [
            (huge, Sale, -huge),
            (huge, Delivery, huge),
            (huge, MoveIn, huge),
            (-huge, MoveOut, huge),
            (-huge, Sale, huge),
        ];
        for (counted, kind, n) in cases {
            let mut pot = Pot::empty();
            pot.record(Count, counted, at("10:00"), "a".into()).unwrap();
            let before = (*pot.state(), pot.version());
            let refused = pot.record(kind, n, at("11:00"), "b".into());
            assert_eq!(refused, Err(NonFinite), "{kind:?} {n} after {counted}");
            assert_eq!((*pot.state(), pot.version()), before);
            assert_eq!(pot.loaded_event_count(), 1);
        }
    }

    #[test]
    fn an_early_event_is_refused_when_the_refold_would_pass_through_an_infinity() {
        let mut store = SimStore::default();
        let mut pot = Pot::empty();
        store.record(&mut pot, Delivery, 1.7e308, minute(0));
        for i in 0..70 {
            store.record(&mut pot, Count, 0.0, minute(i + 10));
        }
        let before = (*pot.state(), pot.version(), pot.checkpoint_count());
        // The count that follows would bring the pot back to 0, but the state in between and
        // every later refold would not be a finite number.
        let refused = store.try_record(&mut pot, Delivery, 1.7e308, minute(5));
        assert_eq!(refused, Err(NonFinite));
        assert_eq!(
            (*pot.state(), pot.version(), pot.checkpoint_count()),
            before
        );
        assert_eq!(store.checkpoints.len(), 1, "no checkpoint was popped");
        store.record(&mut pot, Delivery, 1.0, minute(5));
        assert_eq!(*pot.state(), fold(&store.events));
        store.assert_stack_valid();
    }

    #[test]
    fn admits_tries_several_events_without_changing_the_pot() {
        let mut pot = Pot::empty();
        pot.record(Delivery, 1.0, at("10:00"), "a".into()).unwrap();
        let before = *pot.state();
        let twice = |time| [(Delivery, 1e308, at(time)), (Delivery, 1e308, at(time))];
        assert_eq!(pot.admits(&twice("11:00")), Err(NonFinite));
        assert_eq!(pot.admits(&twice("11:00")[..1]), Ok(()));
        assert_eq!(pot.admits(&twice("09:00")), Err(NonFinite), "early events");
        assert_eq!(pot.admits(&twice("09:00")[..1]), Ok(()));
        assert_eq!((*pot.state(), pot.version()), (before, 1));
    }

    #[test]
    fn every_event_sets_last_updated_to_the_greatest_timestamp() {
        for kind in [Delivery, Sale, MoveOut, MoveIn, Count] {
            assert_eq!(after(&[(kind, 5.0, "10:00")]).last_updated, at("10:00"));
        }
        assert_eq!(after(&[(Sale, 5.0, "10:00")]).last_updated, at("10:00"));
        assert_eq!(
            after(&[(Delivery, 1.0, "12:00"), (Sale, 1.0, "11:00")]).last_updated,
            at("12:00")
        );
    }

    /// Records in arrival order through a pot and checks against the fold.
    fn arrive(events: &[(EventKind, f64, &str)]) -> PotState {
        let mut store = SimStore::default();
        let mut pot = Pot::empty();
        for (kind, n, time) in events {
            store.record(&mut pot, *kind, *n, at(time));
        }
        assert_eq!(*pot.state(), fold(&store.events));
        *pot.state()
    }

    #[test]
    fn the_ordering_examples_of_the_spec_hold() {
        let late_delivery = arrive(&[(Sale, 1.0, "12:00"), (Delivery, 10.0, "11:00")]);
        assert_eq!(
            (qp(&late_delivery), late_delivery.last_updated),
            ((9.0, 0.0), at("12:00"))
        );
        let two_sales = arrive(&[
            (Sale, 5.0, "11:00"),
            (Sale, 1.0, "12:00"),
            (Delivery, 10.0, "11:30"),
        ]);
        assert_eq!(qp(&two_sales), (9.0, -5.0));
        let late_count = arrive(&[
            (Delivery, 100.0, "08:00"),
            (Sale, 10.0, "10:00"),
            (Count, 70.0, "09:55"),
        ]);
        assert_eq!(
            (qp(&late_count), late_count.last_updated),
            ((60.0, 0.0), at("10:00"))
        );
        let late_sale = arrive(&[(MoveIn, 50.0, "10:00"), (Sale, 1.0, "09:55")]);
        assert_eq!(qp(&late_sale), (50.0, -1.0));
    }

    #[test]
    fn ties_in_time_keep_storage_order() {
        let state = arrive(&[
            (Delivery, 5.0, "12:00"),
            (Count, 1.0, "11:00"),
            (Sale, 3.0, "11:00"),
        ]);
        assert_eq!(qp(&state), (5.0, -2.0));
    }

    #[test]
    fn in_order_events_report_no_history_and_no_truncation() {
        let mut pot = Pot::empty();
        let change = pot.record(Delivery, 5.0, at("10:00"), "a".into()).unwrap();
        assert_eq!(change.event.position, 1);
        assert_eq!(change.truncate_checkpoints_to, None);
        assert_eq!(pot.history_needed(at("10:00")), None);
        assert_eq!(pot.history_needed(at("11:00")), None);
        assert_eq!(
            pot.history_needed(at("09:00")),
            None,
            "everything is in memory"
        );
    }

    #[test]
    fn every_sixty_fourth_event_pushes_a_checkpoint_and_leaves_memory_bounded() {
        let mut store = SimStore::default();
        let mut pot = Pot::empty();
        for i in 0..1000 {
            store.record(&mut pot, Delivery, 1.0, minute(i));
            assert!(pot.loaded_event_count() <= CHECKPOINT_EVERY as usize);
        }
        assert_eq!(store.checkpoints.len(), 1000 / CHECKPOINT_EVERY as usize);
        assert!(pot.checkpoints.len() <= MAX_LOADED_CHECKPOINTS);
        assert_eq!(pot.state().quantity, 1000.0);
        store.assert_stack_valid();
    }

    /// One command may record several early events on one pot (a delivery with two lines for
    /// one product) with nothing loaded in between: a checkpoint pushed by the first must leave
    /// the second the history the first had.
    #[test]
    fn early_events_of_one_command_across_a_checkpoint_need_no_load_in_between() {
        let mut store = SimStore::default();
        let mut pot = Pot::empty();
        store.record(&mut pot, Count, 10.0, minute(10));
        for i in 0..CHECKPOINT_EVERY - 2 {
            store.record(&mut pot, Delivery, 1.0, minute(100 + i));
        }
        assert_eq!(pot.version(), CHECKPOINT_EVERY - 1);
        let lines = [(Delivery, 2.0, minute(5)), (Delivery, 3.0, minute(5))];
        assert_eq!(pot.history_needed(minute(5)), None);
        assert!(pot.admits(&lines).is_ok());
        let mut changes = Vec::new();
        for (kind, n, at) in lines {
            assert_eq!(pot.history_needed(at), None, "a load between the lines");
            let change = pot.record(kind, n, at, format!("r{}", store.events.len()));
            let change = change.unwrap();
            change.apply_to(&mut store.events, &mut store.checkpoints);
            store.state = Some(change.state);
            changes.push(change);
        }
        // The first line pushed a checkpoint; the second, earlier than it, popped it.
        assert!(changes[0].push_checkpoint.is_some());
        assert_eq!(changes[1].truncate_checkpoints_to, Some(0));
        // The count at minute 10 comes after both deliveries at minute 5 and overrides them.
        assert_eq!(pot.state().quantity, 10.0 + (CHECKPOINT_EVERY - 2) as f64);
        assert_eq!(*pot.state(), fold(&store.events));
        store.assert_stack_valid();
        store.record(&mut pot, Sale, 1.0, minute(1000));
        assert_eq!(*pot.state(), fold(&store.events));
        store.assert_stack_valid();
    }

    #[test]
    fn an_early_event_pops_the_checkpoints_it_invalidates() {
        let mut store = SimStore::default();
        let mut pot = Pot::empty();
        for i in 0..200 {
            store.record(&mut pot, Delivery, 1.0, minute(i * 2));
        }
        assert_eq!(store.checkpoints.len(), 3);
        // Between the events at positions 101 and 102: checkpoint 64 stays, 128 and 192 go.
        let before = pot.history_needed(minute(201));
        assert_eq!(
            before,
            Some(HistoryRequest {
                all_checkpoints: false,
                events_from: 64,
                events_to: 192
            })
        );
        let change = store.record(&mut pot, Sale, 500.0, minute(201));
        assert_eq!(change.truncate_checkpoints_to, Some(1));
        assert_eq!(store.checkpoints.len(), 1);
        assert_eq!(store.checkpoints[0].position, 64);
        assert_eq!(*pot.state(), fold(&store.events));
        assert_eq!(
            (pot.state().quantity, pot.state().pending_adjustment),
            (99.0, -399.0)
        );
        store.assert_stack_valid();
    }

    #[test]
    fn a_change_reports_the_truncation_before_the_push() {
        let mut store = SimStore::default();
        let mut pot = Pot::empty();
        for i in 0..63 {
            store.record(&mut pot, Delivery, 1.0, minute(i + 10));
        }
        let change = store.record(&mut pot, Sale, 1.0, minute(0));
        assert_eq!(
            change.truncate_checkpoints_to, None,
            "no checkpoint existed yet"
        );
        assert_eq!(
            change.push_checkpoint,
            Some(Checkpoint {
                position: 64,
                state: change.state
            })
        );
        assert_eq!(
            (change.state.quantity, change.state.pending_adjustment),
            (63.0, -1.0)
        );
        store.record(&mut pot, Delivery, 1.0, minute(100));
        let change = store.record(&mut pot, Sale, 1.0, minute(1));
        assert_eq!((store.loads, change.truncate_checkpoints_to), (1, Some(0)));
        assert_eq!(
            (change.state.quantity, change.state.pending_adjustment),
            (64.0, -2.0)
        );
        store.assert_stack_valid();
    }

    #[test]
    fn a_loaded_pot_fetches_the_stack_then_the_events_for_a_deep_rebuild() {
        let mut store = SimStore::default();
        let mut pot = Pot::empty();
        for i in 0..300 {
            store.record(&mut pot, Delivery, 1.0, minute(i + 100));
        }
        let mut pot = store.load();
        assert_eq!(pot.loaded_event_count(), 300 - 256);
        assert_eq!(pot.history_needed(minute(400)), None);
        let first = pot.history_needed(minute(150)).unwrap();
        assert!(first.all_checkpoints && first.events_from == first.events_to);
        pot.extend_history(PotHistory::from_full(
            &store.events,
            &store.checkpoints,
            &first,
        ));
        let second = pot.history_needed(minute(150)).unwrap();
        assert_eq!(
            second,
            HistoryRequest {
                all_checkpoints: false,
                events_from: 0,
                events_to: 256
            }
        );
        pot.extend_history(PotHistory::from_full(
            &store.events,
            &store.checkpoints,
            &second,
        ));
        assert_eq!(pot.history_needed(minute(150)), None);
        store.record(&mut pot, Sale, 1.0, minute(150));
        assert_eq!(store.loads, 0);
        assert_eq!(*pot.state(), fold(&store.events));
        store.assert_stack_valid();
    }

    #[test]
    fn a_loaded_pot_with_a_valid_top_checkpoint_loads_nothing() {
        let mut store = SimStore::default();
        let mut pot = Pot::empty();
        for i in 0..100 {
            store.record(&mut pot, Delivery, 1.0, minute(i * 2));
        }
        let mut pot = store.load();
        store.record(&mut pot, Sale, 1.0, minute(190));
        assert_eq!(store.loads, 0);
        assert_eq!(*pot.state(), fold(&store.events));
        store.assert_stack_valid();
    }

    #[test]
    fn reloading_at_any_point_gives_the_same_state_as_the_fold() {
        let mut store = SimStore::default();
        let mut pot = Pot::empty();
        for i in 0..500u64 {
            // Mostly in order, with an early event every 7th and a deep one every 97th.
            let time = match i {
                _ if i % 97 == 0 => i / 3,
                _ if i % 7 == 0 => i.saturating_sub(20) + 5,
                _ => i + 5,
            };
            let kind = [Delivery, Sale, MoveOut, MoveIn, Count][(i % 5) as usize];
            store.record(&mut pot, kind, (i % 13) as f64 - 3.5, minute(time));
            assert_eq!(*pot.state(), fold(&store.events));
            if i % 41 == 0 {
                pot = store.load();
            }
        }
        store.assert_stack_valid();
    }

    #[test]
    fn extend_history_ignores_events_already_loaded_or_beyond_a_gap() {
        let mut store = SimStore::default();
        let mut pot = Pot::empty();
        for i in 0..70 {
            store.record(&mut pot, Delivery, 1.0, minute(i));
        }
        let mut pot = store.load();
        assert_eq!(pot.loaded_from(), 64);
        let mut events = store.events.clone();
        events.retain(|e| e.position != 10);
        pot.extend_history(PotHistory {
            checkpoints: None,
            events,
        });
        assert_eq!(pot.loaded_from(), 10);
        assert_eq!(pot.loaded_event_count(), 60);
    }

    #[test]
    fn store_helpers_answer_from_the_full_history() {
        let mut store = SimStore::default();
        let mut pot = Pot::empty();
        for i in 0..130 {
            store.record(&mut pot, Delivery, 1.0, minute(i));
        }
        let stored = StoredPot::from_full(*pot.state(), &store.events, &store.checkpoints);
        assert_eq!((stored.version, stored.checkpoint_count), (130, 2));
        assert_eq!(stored.top_checkpoint.map(|c| c.position), Some(128));
        assert_eq!(stored.events.len(), 2);
        let request = HistoryRequest {
            all_checkpoints: false,
            events_from: 3,
            events_to: 5,
        };
        let history = PotHistory::from_full(&store.events, &store.checkpoints, &request);
        assert_eq!(history.checkpoints, None);
        assert_eq!(
            history
                .events
                .iter()
                .map(|e| e.position)
                .collect::<Vec<_>>(),
            [4, 5]
        );
        let empty = StoredPot::from_full(PotState::INITIAL, &[], &[]);
        assert_eq!(
            (empty.version, empty.checkpoint_count, empty.top_checkpoint),
            (0, 0, None)
        );
    }

    #[test]
    fn the_store_forms_serialize() {
        let state = after(&[(Delivery, 1.5, "10:00")]);
        let json = serde_json::to_string(&Checkpoint { position: 3, state }).unwrap();
        assert_eq!(
            serde_json::from_str::<Checkpoint>(&json).unwrap(),
            Checkpoint { position: 3, state }
        );
        let event = Event {
            kind: Sale,
            quantity: -1.0,
            at: at("10:00"),
            id: "x".into(),
            position: 1,
        };
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
    }
}
