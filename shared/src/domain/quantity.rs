//! Quantities: IEEE-754 doubles rendered with a fractional part (`100.0`, never `100`).

use std::fmt;

/// A quantity as it appears in a response body.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantity(pub f64);

impl fmt::Display for Quantity {
    /// The response rendering, see [`format_quantity`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_quantity(self.0))
    }
}

/// Renders a finite double as a JSON number that always has a fractional part, using the
/// shortest decimal that reads back as the same double (`100.0`, `17.75`, `-5.0`).
///
/// Never uses an exponent (`1e21` renders as `1000000000000000000000.0`). Negative zero renders
/// as `0.0`: JSON readers would print `-0.0` back, and "minus nothing in stock" means nothing to
/// a client. Callers only pass finite values; a NaN or an infinity has no JSON number, so it
/// renders as `0.0` rather than as invalid JSON.
pub fn format_quantity(value: f64) -> String {
    if !value.is_finite() || value == 0.0 {
        return "0.0".to_owned();
    }
    // `Display` for f64 writes the shortest round-tripping decimal, without an exponent.
    let mut out = value.to_string();
    if !out.contains('.') {
        out.push_str(".0");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_values_keep_a_fractional_part() {
        assert_eq!(format_quantity(100.0), "100.0");
        assert_eq!(format_quantity(45.0), "45.0");
        assert_eq!(format_quantity(0.0), "0.0");
        assert_eq!(format_quantity(-5.0), "-5.0");
    }

    #[test]
    fn fractional_values_use_the_shortest_round_tripping_decimal() {
        assert_eq!(format_quantity(150.5), "150.5");
        assert_eq!(format_quantity(17.75), "17.75");
        assert_eq!(format_quantity(15.5 + 2.25), "17.75");
        assert_eq!(format_quantity(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_quantity(-0.001), "-0.001");
    }

    #[test]
    fn large_and_tiny_values_never_use_an_exponent() {
        assert_eq!(format_quantity(1e21), "1000000000000000000000.0");
        assert_eq!(format_quantity(1e-7), "0.0000001");
        let text = format_quantity(f64::MAX);
        assert!(!text.contains('e') && text.ends_with(".0"));
        assert_eq!(text.parse::<f64>(), Ok(f64::MAX));
    }

    #[test]
    fn negative_zero_and_non_finite_values_render_as_zero() {
        assert_eq!(format_quantity(-0.0), "0.0");
        assert_eq!(format_quantity(f64::NAN), "0.0");
        assert_eq!(format_quantity(f64::INFINITY), "0.0");
    }

    #[test]
    fn rendered_values_read_back_as_the_same_double() {
        for v in [1.0 / 3.0, 2.0 / 3.0, 123_456.789, -98.76e-5, 5e-324, 4.35] {
            assert_eq!(format_quantity(v).parse::<f64>(), Ok(v));
        }
    }

    #[test]
    fn quantity_displays_like_format_quantity() {
        assert_eq!(Quantity(261.0).to_string(), "261.0");
    }
}
