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
/// a client. No stored quantity is ever non-finite (such writes are refused); should one reach
/// this anyway it is never shown as a stock level: an infinity renders as ±10^309, beyond every
/// double (double readers read it back as the infinity it is), and a NaN as `null`.
pub fn format_quantity(value: f64) -> String {
    if value.is_nan() {
        return "null".to_owned();
    }
    if value.is_infinite() {
        let sign = if value < 0.0 { "-" } else { "" };
        return format!("{sign}1{}.0", "0".repeat(309));
    }
    if value == 0.0 {
        return "0.0".to_owned();
    }
    // `Display` for f64 writes the shortest round-tripping decimal, without an exponent.
    let mut out = value.to_string();
    if !out.contains('.') {
        out.push_str(".0");
    }
    out
}

/// 2^64 and its inverse: a [`Total`] also keeps its sum at this scale, where a sum of finite
/// quantities never overflows.
const SCALE_UP: f64 = 18_446_744_073_709_551_616.0;
const SCALE_DOWN: f64 = 1.0 / SCALE_UP;

/// A sum of quantities (a `totalQuantity`) that stays exact when it leaves the double range.
///
/// Every pot is finite, but pots at different locations can add up beyond the largest double.
/// The sum is kept as a plain double and also scaled by 2^-64: the scaled sum is the same IEEE
/// arithmetic with a wider exponent, so when the plain sum overflows the total is still known
/// and rendered as the decimal it is (see [`Total::render`]), never as `0.0` or a made-up bound.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Total {
    plain: f64,
    scaled: f64,
}

impl Total {
    /// Adds one quantity.
    pub fn add(&mut self, value: f64) {
        self.plain += value;
        self.scaled += value * SCALE_DOWN;
    }

    /// Adds another total (a child location's).
    pub fn add_total(&mut self, other: Total) {
        self.plain += other.plain;
        self.scaled += other.scaled;
    }

    /// The total as a JSON number: like [`format_quantity`] while it is a double; beyond the
    /// double range, its value to 17 significant digits, written out without an exponent
    /// (a JSON number larger than any double, which double readers read as an infinity).
    pub fn render(&self) -> String {
        if self.plain.is_finite() {
            return format_quantity(self.plain);
        }
        let unscaled = self.scaled * SCALE_UP;
        if unscaled.is_finite() || !self.scaled.is_finite() {
            // Back within range after an overflow in between, or an infinite term.
            return format_quantity(unscaled);
        }
        beyond_range(self.scaled)
    }
}

/// `scaled × 2^64` as a decimal integer rounded to 17 significant digits (enough to tell any two
/// doubles of a wider exponent apart), for a finite `scaled` whose product exceeds every double.
fn beyond_range(scaled: f64) -> String {
    let bits = scaled.to_bits();
    // Such a `scaled` is far above the subnormal range: its exponent field is never zero.
    let mantissa = (bits & ((1 << 52) - 1)) | (1 << 52);
    let exponent = ((bits >> 52) & 0x7ff) as i32 - 1075 + 64;
    let digits = integer_digits(mantissa, exponent.max(0).unsigned_abs());
    let sign = if scaled < 0.0 { "-" } else { "" };
    if digits.len() <= 17 {
        return format!("{sign}{digits}.0");
    }
    let bytes = digits.as_bytes();
    let mut head = bytes[..17]
        .iter()
        .fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0'));
    if bytes[17] >= b'5' {
        head += 1;
    }
    format!("{sign}{head}{}.0", "0".repeat(digits.len() - 17))
}

/// The decimal digits of `mantissa × 2^shift`.
fn integer_digits(mantissa: u64, shift: u32) -> String {
    const BASE: u64 = 1_000_000_000;
    // Little-endian limbs of nine decimal digits; shifts of at most 29 bits keep every
    // intermediate product and carry below 2^64.
    let mut limbs = vec![
        mantissa % BASE,
        mantissa / BASE % BASE,
        mantissa / BASE / BASE,
    ];
    let mut left = shift;
    while left > 0 {
        let step = left.min(29);
        let mut carry = 0;
        for limb in &mut limbs {
            let value = (*limb << step) + carry;
            *limb = value % BASE;
            carry = value / BASE;
        }
        while carry > 0 {
            limbs.push(carry % BASE);
            carry /= BASE;
        }
        left -= step;
    }
    let mut text: String = limbs.iter().rev().map(|l| format!("{l:09}")).collect();
    let significant = text.len() - text.trim_start_matches('0').len();
    text.drain(..significant.min(text.len() - 1));
    text
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
    fn negative_zero_renders_as_zero() {
        assert_eq!(format_quantity(-0.0), "0.0");
    }

    #[test]
    fn an_infinity_is_never_shown_as_a_stock_level() {
        let beyond = format!("1{}.0", "0".repeat(309));
        assert_eq!(format_quantity(f64::INFINITY), beyond);
        assert_eq!(format_quantity(f64::NEG_INFINITY), format!("-{beyond}"));
        assert_eq!(beyond.parse::<f64>(), Ok(f64::INFINITY));
        assert_eq!(format_quantity(f64::NAN), "null");
    }

    #[test]
    fn a_total_within_range_renders_like_a_quantity() {
        let mut total = Total::default();
        for v in [150.5, 50.0, 30.0, 30.5] {
            total.add(v);
        }
        assert_eq!(total.render(), "261.0");
        assert_eq!(Total::default().render(), "0.0");
    }

    #[test]
    fn a_total_of_two_huge_pots_renders_its_value_beyond_the_double_range() {
        let mut total = Total::default();
        total.add(1.7e308);
        total.add(1.7e308);
        let text = total.render();
        assert_eq!(text, format!("33999999999999999{}.0", "0".repeat(292)));
        let mut negative = Total::default();
        negative.add(-1.7e308);
        let mut child = Total::default();
        child.add(-1.7e308);
        negative.add_total(child);
        assert_eq!(negative.render(), format!("-{text}"));
    }

    #[test]
    fn a_total_that_overflows_and_comes_back_renders_the_double_it_ends_at() {
        let mut total = Total::default();
        for v in [f64::MAX, f64::MAX, -f64::MAX] {
            total.add(v);
        }
        assert_eq!(total.render(), format_quantity(f64::MAX));
    }

    #[test]
    fn the_largest_totals_round_to_seventeen_digits() {
        let mut total = Total::default();
        for _ in 0..4 {
            total.add(f64::MAX);
        }
        // 4 × (2^1024 − 2^971) = 7.19077253944926283…e308.
        assert_eq!(
            total.render(),
            format!("71907725394492628{}.0", "0".repeat(292))
        );
        assert_eq!(integer_digits(1, 70), "1180591620717411303424");
        assert_eq!(integer_digits(0, 10), "0");
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
