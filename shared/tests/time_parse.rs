//! Property tests of local date-time parsing and rendering (docs/api.md §3.4).

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use shared::domain::LocalDateTime;

/// Seconds range of the representable local date-times.
fn any_time() -> impl Strategy<Value = LocalDateTime> {
    let (min, max) = (
        LocalDateTime::MIN.epoch_seconds(),
        LocalDateTime::MAX.epoch_seconds(),
    );
    (min..=max, 0u32..1_000_000_000).prop_map(|(s, n)| LocalDateTime::from_epoch(s, n).unwrap())
}

/// Times around the present, where most input lives.
fn recent_time() -> impl Strategy<Value = LocalDateTime> {
    (
        -5_000_000_000i64..5_000_000_000,
        prop_oneof![Just(0u32), 0u32..1_000_000_000],
    )
        .prop_map(|(s, n)| LocalDateTime::from_epoch(s, n).unwrap())
}

/// Strings made of the characters the grammar uses, so that near-misses are common.
fn near_miss() -> impl Strategy<Value = String> {
    "[0-9+\\-:Tt.Zz\\[\\]/ ]{0,40}"
}

proptest! {
    #[test]
    fn parsing_arbitrary_text_never_panics(input in any::<String>()) {
        let _ = LocalDateTime::parse(&input);
    }

    #[test]
    fn parsing_grammar_like_text_never_panics(input in near_miss()) {
        if let Some(t) = LocalDateTime::parse(&input) {
            // Whatever is accepted renders to something that parses back to the same value.
            prop_assert_eq!(LocalDateTime::parse(&t.to_string()), Some(t));
        }
    }

    #[test]
    fn rendering_round_trips_over_the_whole_range(t in any_time()) {
        prop_assert_eq!(LocalDateTime::parse(&t.to_string()), Some(t));
    }

    #[test]
    fn rendering_round_trips_near_the_present(t in recent_time()) {
        let text = t.to_string();
        prop_assert_eq!(LocalDateTime::parse(&text), Some(t));
        prop_assert!(!text.ends_with('0') || !text.contains('.'), "trailing zero in {}", text);
    }

    #[test]
    fn offsets_and_zones_never_change_the_value(
        t in recent_time(),
        offset in prop_oneof![
            Just(String::from("Z")),
            Just(String::from("z")),
            (0u32..18, 0u32..60, any::<bool>()).prop_map(|(h, m, neg)| {
                format!("{}{h:02}:{m:02}", if neg { '-' } else { '+' })
            }),
            (0u32..18, 0u32..60, 0u32..60).prop_map(|(h, m, s)| format!("+{h:02}:{m:02}:{s:02}")),
        ],
        zone in prop_oneof![Just(""), Just("[Europe/London]"), Just("[UTC]")],
    ) {
        let input = format!("{t}{offset}{zone}");
        prop_assert_eq!(LocalDateTime::parse(&input), Some(t));
    }

    #[test]
    fn the_order_of_values_is_the_order_of_time(a in any_time(), b in any_time()) {
        let key = |t: LocalDateTime| (t.epoch_seconds(), t.nanos());
        prop_assert_eq!(a.cmp(&b), key(a).cmp(&key(b)));
    }

    #[test]
    fn days_beyond_the_month_are_rejected(year in 0i64..10_000, month in 1u32..=12, day in 29u32..=31) {
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let length = match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let parsed = LocalDateTime::parse(&format!("{year:04}-{month:02}-{day:02}T00:00"));
        prop_assert_eq!(parsed.is_some(), day <= length);
    }
}
