//! Tests of the refusal of writes whose quantities would not be finite, over the core's harness.
#![allow(clippy::unwrap_used)]

use shared::reply::Reply;

use super::StepOutcome;
use super::tests::{Harness, count, created, delivery, location, moving, replies, sale, sends};

/// A quantity a double holds once but not twice.
const HUGE: f64 = 1.7e308;

#[test]
fn a_sale_that_would_overflow_the_pot_is_refused_and_leaves_no_trace() {
    let l = location(0, 0);
    let mut h = Harness::new(0);
    h.batch(&[count(&l, "P", "c1", HUGE, 0)]);
    let refused = sale(&l, "P", "s1", -HUGE, 1);
    assert_eq!(
        h.batch(std::slice::from_ref(&refused)),
        vec![StepOutcome::NonFinite]
    );
    let batch = h.last();
    assert_eq!(replies(batch), vec![Reply::NonFinite]);
    assert_eq!(
        (batch.commit.pots.len(), batch.commit.records.len()),
        (0, 0)
    );
    assert!(
        h.record(&l, "s1").is_none(),
        "a refused write leaves no record"
    );
    assert_eq!(h.quantity(&l, "P"), HUGE);
    // Nothing was recorded, so the same request id is free for a write that fits.
    assert_eq!(
        h.batch(&[sale(&l, "P", "s1", 1.0, 2)]),
        vec![StepOutcome::Applied]
    );
}

#[test]
fn a_shortfall_that_would_overflow_the_pending_adjustment_is_refused() {
    let l = location(0, 0);
    let mut h = Harness::new(0);
    h.batch(&[count(&l, "P", "c1", -HUGE, 0)]);
    assert_eq!(
        h.batch(&[sale(&l, "P", "s1", HUGE, 1)]),
        vec![StepOutcome::NonFinite]
    );
    let state = h.state(&l, "P");
    assert_eq!((state.quantity, state.pending_adjustment), (-HUGE, 0.0));
}

#[test]
fn a_delivery_with_one_overflowing_line_records_none_of_its_lines() {
    let l = location(0, 0);
    let mut h = Harness::new(0);
    h.batch(&[count(&l, "P", "c1", HUGE, 0)]);
    let refused = delivery(&l, "d1", &[("Q", 5.0), ("P", HUGE)], 1);
    assert_eq!(h.batch(&[refused]), vec![StepOutcome::NonFinite]);
    assert!(h.last().commit.pots.is_empty());
    assert_eq!((h.quantity(&l, "Q"), h.quantity(&l, "P")), (0.0, HUGE));
    // Two lines for one pot fit alone but not together.
    let twice = delivery(&l, "d2", &[("R", 1e308), ("R", 1e308)], 1);
    assert_eq!(h.batch(&[twice]), vec![StepOutcome::NonFinite]);
    assert_eq!(h.quantity(&l, "R"), 0.0);
    let once = delivery(&l, "d3", &[("R", 1e308), ("Q", 5.0)], 1);
    assert_eq!(h.batch(&[once]), vec![StepOutcome::Applied]);
    assert_eq!((h.quantity(&l, "R"), h.quantity(&l, "Q")), (1e308, 5.0));
}

#[test]
fn a_same_shard_move_that_would_overflow_its_destination_changes_neither_side() {
    let (s, d) = (location(0, 0), location(0, 1));
    let mut h = Harness::new(0);
    h.batch(&[
        delivery(&s, "d1", &[("P", 1e308)], 0),
        count(&d, "P", "c1", HUGE, 0),
    ]);
    let m = moving(&s, &d, "P", "m1", 1e308);
    assert_eq!(h.batch(&[m]), vec![StepOutcome::NonFinite]);
    assert!(h.last().commit.pots.is_empty());
    assert_eq!((h.quantity(&s, "P"), h.quantity(&d, "P")), (1e308, HUGE));
}

#[test]
fn an_overflowing_credit_is_held_until_the_destination_has_room() {
    let (s, d) = (location(0, 0), location(1, 0));
    let mut source = Harness::new(0);
    source.batch(&[delivery(&s, "d1", &[("P", 1e308)], 0)]);
    let m = moving(&s, &d, "P", "m1", 1e308);
    assert_eq!(
        source.batch(std::slice::from_ref(&m)),
        vec![StepOutcome::MovedOut]
    );
    let (_, credit) = sends(source.last()).remove(0);
    let mut dest = Harness::new(1);
    dest.batch(&[count(&d, "P", "c1", HUGE, 0)]);
    assert_eq!(
        dest.batch(std::slice::from_ref(&credit)),
        vec![StepOutcome::CreditHeld]
    );
    let held = dest.last();
    assert!(held.commit.pots.is_empty() && held.commit.credits_applied.is_empty());
    assert!(
        replies(held).is_empty() && sends(held).is_empty(),
        "neither answered nor acknowledged: the source keeps re-sending it"
    );
    assert_eq!(dest.quantity(&d, "P"), HUGE);
    // Once the destination's quantity leaves room, the re-sent credit lands.
    dest.batch(&[sale(&d, "P", "s1", HUGE, 10)]);
    assert_eq!(dest.batch(&[credit]), vec![StepOutcome::Credited]);
    assert_eq!(dest.quantity(&d, "P"), 1e308);
    assert_eq!(replies(dest.last()), vec![created(&m)]);
}
