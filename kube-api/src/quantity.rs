//! Resource quantities: `cpu: 100m`, `memory: 128Mi`, `storage: 1G`.
//!
//! Upstream: `k8s.io/apimachinery/pkg/api/resource` (`Quantity`). A quantity is a number
//! with an optional suffix, in one of three formats:
//!
//! | format            | suffixes                                   | example          |
//! |-------------------|--------------------------------------------|------------------|
//! | `BinarySI`        | `Ki Mi Gi Ti Pi Ei` (powers of 1024)       | `128Mi`, `1.5Gi` |
//! | `DecimalSI`       | `n u m` (none) `k M G T P E` (powers of 1000) | `100m`, `1G`  |
//! | `DecimalExponent` | `e`/`E` and a power of ten                 | `1e3`, `12E6`    |
//!
//! ## Exact arithmetic
//! The scheduler adds up requests and compares them with what a node allocates; floating
//! point would make `0.1 + 0.2` CPUs differ from `300m`. So a quantity is stored as a whole
//! number of **nano-units** in an `i128` (`100m` is 100,000,000; `1Gi` is 1,073,741,824 ×
//! 10⁹). This holds every value upstream can hold, because upstream too:
//! - rounds a value up (away from zero) to a whole nano-unit when parsing (`0.1n` → `1n`);
//! - caps the magnitude at 2⁶³−1 units (`9Ei` is too big and becomes 9223372036854775807).
//!   Upstream skips the cap on its fast path for short decimal numbers (it keeps `12E`);
//!   we cap always, so that every value fits and `value()` means the same for all.
//!
//! Sums of such values fit an `i128` a billion times over; `+` and `-` saturate at the
//! `i128` limits rather than wrap, a case no real cluster reaches.
//!
//! ## Printing
//! The format a quantity was written in is kept, and [`Display`](fmt::Display) prints the
//! canonical form in it, as upstream's `String()`: `1024Mi` prints `1Gi`, `0.5` prints
//! `500m`, `1000m` prints `1`, `1e3` stays `1e3`. A binary quantity that is not a whole
//! number of bytes, or is smaller than 1024, prints in decimal (`1.0001Ki` → `1024102400u`).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string is not a quantity. The messages are upstream's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The text does not have the shape `[+-]digits[.digits][suffix]`.
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    FormatWrong,
    /// The suffix has the right characters but is not a known one (`1K`, `1mi`), or its
    /// exponent does not fit.
    #[error("unable to parse quantity's suffix")]
    Suffix,
}

/// How a quantity was written, and so how it prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Powers of 1024: `Ki`, `Mi`, `Gi`, ...
    BinarySI,
    /// Powers of 1000: `m`, `k`, `M`, `G`, ...
    DecimalSI,
    /// A power of ten written out: `1e3`.
    DecimalExponent,
}

/// A resource quantity. Equality and order compare values only: `1Gi == 1073741824` and
/// `1000m == 1`, whatever the format.
#[derive(Clone, Copy, Debug)]
pub struct Quantity {
    /// The value in units of 10⁻⁹.
    nanos: i128,
    format: Format,
}

const NANOS_PER_UNIT: i128 = 1_000_000_000;
/// Upstream's cap: 2⁶³−1 units.
const MAX_NANOS: i128 = i64::MAX as i128 * NANOS_PER_UNIT;

const DECIMAL_SUFFIXES: [(&str, i32); 10] =
    [("n", -9), ("u", -6), ("m", -3), ("", 0), ("k", 3), ("M", 6), ("G", 9), ("T", 12), ("P", 15), ("E", 18)];
const BINARY_SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

impl Quantity {
    /// Zero, printed `0`.
    pub fn zero() -> Quantity {
        Quantity { nanos: 0, format: Format::DecimalSI }
    }

    /// A whole number of units (upstream's `NewQuantity`): `Quantity::new(1024, BinarySI)`
    /// prints `1Ki`.
    pub fn new(value: i64, format: Format) -> Quantity {
        Quantity { nanos: i128::from(value) * NANOS_PER_UNIT, format }
    }

    /// A number of thousandths (upstream's `NewMilliQuantity`): `new_milli(100, DecimalSI)`
    /// prints `100m`.
    pub fn new_milli(milli: i64, format: Format) -> Quantity {
        Quantity { nanos: i128::from(milli) * 1_000_000, format }
    }

    /// Parses a quantity as upstream's `ParseQuantity` does: no whitespace, an optional
    /// sign, digits with an optional fraction, an optional suffix.
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        let (negative, rest) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let integer_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let integer = &rest[..integer_end];
        let (fraction, suffix) = match rest[integer_end..].strip_prefix('.') {
            Some(after_dot) => {
                let end = after_dot.find(|c: char| !c.is_ascii_digit()).unwrap_or(after_dot.len());
                (&after_dot[..end], &after_dot[end..])
            }
            None => ("", &rest[integer_end..]),
        };
        if integer.is_empty() && fraction.is_empty() {
            return Err(QuantityError::FormatWrong);
        }
        check_suffix_shape(suffix)?;
        let (format, power_of_ten, power_of_two) = interpret_suffix(suffix)?;

        // The value is digits × 10^(power_of_ten − fraction length) × 2^power_of_two.
        let mut digits: Vec<u8> = integer.bytes().chain(fraction.bytes()).map(|b| b - b'0').collect();
        for _ in 0..power_of_two {
            double(&mut digits);
        }
        let fraction_len = i64::try_from(fraction.len()).map_err(|_| QuantityError::FormatWrong)?;
        let exponent = i64::from(power_of_ten) - fraction_len;
        let magnitude = nanos_rounded_up(&digits, exponent);

        let nanos = if negative { -magnitude } else { magnitude };
        // Upstream: a binary quantity below one unit would print as a fraction of `Ki`,
        // which confuses; it becomes decimal.
        let format = if format == Format::BinarySI && magnitude > 0 && magnitude < NANOS_PER_UNIT {
            Format::DecimalSI
        } else {
            format
        };
        Ok(Quantity { nanos, format })
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// The exact value in nano-units (`100m` → 100,000,000).
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// The value in thousandths, rounded up (away from zero) as upstream's `MilliValue`:
    /// the CPU figure the scheduler and the kubelet use (`100m` → 100, `0.5` → 500,
    /// `2` → 2000). Saturates at the `i64` limits.
    pub fn milli_value(&self) -> i64 {
        saturate(divide_rounding_up(self.nanos, 1_000_000))
    }

    /// The value in whole units, rounded up (away from zero) as upstream's `Value`: the
    /// byte count of a memory quantity (`128Mi` → 134217728, `0.5` → 1). Saturates at the
    /// `i64` limits.
    pub fn value(&self) -> i64 {
        saturate(divide_rounding_up(self.nanos, NANOS_PER_UNIT))
    }

    /// The sum, or `None` past the `i128` range.
    pub fn checked_add(self, other: Quantity) -> Option<Quantity> {
        let nanos = self.nanos.checked_add(other.nanos)?;
        Some(Quantity { nanos, format: self.result_format(other) })
    }

    /// The format of `self ± other`: the left one's, unless the left one is zero (upstream
    /// keeps `100m` + `0` and `0` + `100m` both printing `100m`).
    fn result_format(self, other: Quantity) -> Format {
        if self.is_zero() {
            other.format
        } else {
            self.format
        }
    }
}

/// `suffix` must look like `[eEinumkKMGTP]*[-+]?[0-9]*`.
fn check_suffix_shape(suffix: &str) -> Result<(), QuantityError> {
    let rest = suffix.trim_start_matches(|c: char| "eEinumkKMGTP".contains(c));
    let rest = rest.strip_prefix(['+', '-']).unwrap_or(rest);
    if rest.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(QuantityError::FormatWrong)
    }
}

/// A suffix's format and the power of ten or of two it multiplies by.
fn interpret_suffix(suffix: &str) -> Result<(Format, i32, u32), QuantityError> {
    if let Some((_, power)) = DECIMAL_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        return Ok((Format::DecimalSI, *power, 0));
    }
    if let Some(index) = BINARY_SUFFIXES.iter().skip(1).position(|s| *s == suffix) {
        let power_of_two = 10 * (index as u32 + 1);
        return Ok((Format::BinarySI, 0, power_of_two));
    }
    match suffix.strip_prefix(['e', 'E']) {
        Some(exponent) if !exponent.is_empty() => {
            let exponent = exponent.parse::<i32>().map_err(|_| QuantityError::Suffix)?;
            Ok((Format::DecimalExponent, exponent, 0))
        }
        _ => Err(QuantityError::Suffix),
    }
}

/// Multiplies a number written as decimal digits (most significant first) by two.
fn double(digits: &mut Vec<u8>) {
    let mut carry = 0;
    for digit in digits.iter_mut().rev() {
        let doubled = *digit * 2 + carry;
        *digit = doubled % 10;
        carry = doubled / 10;
    }
    if carry > 0 {
        digits.insert(0, carry);
    }
}

/// `digits × 10^exponent` in nano-units, rounded up to a whole nano-unit and capped at
/// upstream's maximum.
fn nanos_rounded_up(digits: &[u8], exponent: i64) -> i128 {
    let first_nonzero = digits.iter().position(|&d| d != 0);
    let Some(first_nonzero) = first_nonzero else {
        return 0;
    };
    let digits = &digits[first_nonzero..];
    // Shift the decimal point nine places right: the digits before it are whole nanos.
    let whole_len = i64::try_from(digits.len()).unwrap_or(i64::MAX).saturating_add(exponent).saturating_add(9);
    if whole_len > 30 {
        return MAX_NANOS; // at least 10^30 nanos: far above the cap (about 9.2 × 10^27)
    }
    let (whole, rest): (&[u8], &[u8]) = if whole_len <= 0 {
        (&[], digits)
    } else if whole_len as usize >= digits.len() {
        (digits, &[])
    } else {
        digits.split_at(whole_len as usize)
    };
    let mut nanos: i128 = 0;
    for &digit in whole {
        nanos = nanos * 10 + i128::from(digit);
    }
    // Trailing zeros implied by a positive exponent.
    for _ in digits.len() as i64..whole_len {
        nanos *= 10;
    }
    if rest.iter().any(|&d| d != 0) {
        nanos += 1; // round up: ask for a sliver, get a nano-unit
    }
    nanos.min(MAX_NANOS)
}

/// `value / divisor`, rounded away from zero.
fn divide_rounding_up(value: i128, divisor: i128) -> i128 {
    let quotient = value / divisor;
    match value % divisor {
        0 => quotient,
        _ if value > 0 => quotient + 1,
        _ => quotient - 1,
    }
}

fn saturate(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value > 0 { i64::MAX } else { i64::MIN })
}

impl fmt::Display for Quantity {
    /// Upstream's canonical form (see the module documentation).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let whole_units = self.nanos % NANOS_PER_UNIT == 0;
        if self.format == Format::BinarySI && whole_units && self.nanos.abs() >= 1024 * NANOS_PER_UNIT {
            // Take out as many factors of 1024 as divide the value.
            let mut units = self.nanos / NANOS_PER_UNIT;
            let mut power = 0;
            while power < BINARY_SUFFIXES.len() - 1 && units % 1024 == 0 {
                units /= 1024;
                power += 1;
            }
            return write!(f, "{units}{}", BINARY_SUFFIXES[power]);
        }
        // Decimal: mantissa × 10^exponent with no trailing zeros in the mantissa, then the
        // exponent lowered to a multiple of three (`5e-1` → `500e-3`, printed `500m`).
        let (mut mantissa, mut exponent) = (self.nanos, -9i32);
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        while exponent.rem_euclid(3) != 0 {
            mantissa *= 10;
            exponent -= 1;
        }
        let suffix = match self.format {
            Format::DecimalExponent if exponent == 0 => String::new(),
            Format::DecimalExponent => format!("e{exponent}"),
            // DecimalSI, and binary values that are not whole multiples of 1024.
            _ => match DECIMAL_SUFFIXES.iter().find(|(_, power)| *power == exponent) {
                Some((suffix, _)) => suffix.to_string(),
                None => format!("e{exponent}"), // beyond `E`: upstream falls back to an exponent
            },
        };
        write!(f, "{mantissa}{suffix}")
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(text: &str) -> Result<Quantity, QuantityError> {
        Quantity::parse(text)
    }
}

impl Default for Quantity {
    fn default() -> Quantity {
        Quantity::zero()
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Quantity) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.nanos.hash(state); // like Eq, the format does not count
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Quantity) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Quantity) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl Add for Quantity {
    type Output = Quantity;

    fn add(self, other: Quantity) -> Quantity {
        Quantity { nanos: self.nanos.saturating_add(other.nanos), format: self.result_format(other) }
    }
}

impl Sub for Quantity {
    type Output = Quantity;

    fn sub(self, other: Quantity) -> Quantity {
        Quantity { nanos: self.nanos.saturating_sub(other.nanos), format: self.result_format(other) }
    }
}

impl AddAssign for Quantity {
    fn add_assign(&mut self, other: Quantity) {
        *self = *self + other;
    }
}

impl SubAssign for Quantity {
    fn sub_assign(&mut self, other: Quantity) {
        *self = *self - other;
    }
}

impl Neg for Quantity {
    type Output = Quantity;

    fn neg(self) -> Quantity {
        Quantity { nanos: self.nanos.saturating_neg(), format: self.format }
    }
}

impl Sum for Quantity {
    fn sum<I: Iterator<Item = Quantity>>(iter: I) -> Quantity {
        iter.fold(Quantity::zero(), Add::add)
    }
}

impl Serialize for Quantity {
    /// Always the canonical string: `"100m"`, `"1Gi"`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    /// A string (surrounding whitespace ignored, as upstream) or a bare JSON number
    /// (`cpu: 2`, `cpu: 0.5`); `null` reads as zero.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Quantity, D::Error> {
        deserializer.deserialize_any(QuantityVisitor)
    }
}

struct QuantityVisitor;

impl QuantityVisitor {
    fn parse<E: serde::de::Error>(text: &str) -> Result<Quantity, E> {
        Quantity::parse(text.trim()).map_err(|e| E::custom(format!("invalid quantity {text:?}: {e}")))
    }
}

impl serde::de::Visitor<'_> for QuantityVisitor {
    type Value = Quantity;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a quantity such as \"100m\" or \"128Mi\", or a number")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Quantity, E> {
        Self::parse(text)
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Quantity, E> {
        Ok(Quantity::new(value, Format::DecimalSI))
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Quantity, E> {
        Self::parse(&value.to_string())
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Quantity, E> {
        // Rust prints an f64 as the shortest decimal that reads back the same (0.1 → "0.1").
        Self::parse(&value.to_string())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Quantity, E> {
        Ok(Quantity::zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> Quantity {
        Quantity::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn parsing_keeps_exact_values_in_nano_units() {
        let cases: [(&str, i128, Format); 24] = [
            ("0", 0, Format::DecimalSI),
            ("0Ki", 0, Format::BinarySI),
            ("1", 1_000_000_000, Format::DecimalSI),
            ("+1", 1_000_000_000, Format::DecimalSI),
            ("-1", -1_000_000_000, Format::DecimalSI),
            ("100m", 100_000_000, Format::DecimalSI),
            ("-100m", -100_000_000, Format::DecimalSI),
            ("0.5", 500_000_000, Format::DecimalSI),
            (".001", 1_000_000, Format::DecimalSI),
            ("1.", 1_000_000_000, Format::DecimalSI),
            ("5n", 5, Format::DecimalSI),
            ("1k", 1_000_000_000_000, Format::DecimalSI),
            ("1G", 1_000_000_000 * NANOS_PER_UNIT, Format::DecimalSI),
            ("128Mi", 134_217_728 * NANOS_PER_UNIT, Format::BinarySI),
            ("1.5Ki", 1536 * NANOS_PER_UNIT, Format::BinarySI),
            ("0.5Mi", 524_288 * NANOS_PER_UNIT, Format::BinarySI),
            ("1e3", 1000 * NANOS_PER_UNIT, Format::DecimalExponent),
            ("1.3E+6", 1_300_000 * NANOS_PER_UNIT, Format::DecimalExponent),
            ("1E-3", 1_000_000, Format::DecimalExponent),
            // Things that round up to the next nano-unit, as upstream.
            ("3.001n", 4, Format::DecimalSI),
            ("0.0000000001", 1, Format::DecimalSI),
            ("0.00000012345", 124, Format::DecimalSI),
            // Below one unit, binary becomes decimal; beyond 2^63-1 units, the cap.
            ("0.000000000001Ki", 2, Format::DecimalSI),
            ("9Ei", MAX_NANOS, Format::BinarySI),
        ];
        for (input, nanos, format) in cases {
            let parsed = q(input);
            assert_eq!((parsed.nanos(), parsed.format()), (nanos, format), "input {input:?}");
        }
        assert_eq!(q("-9223372036854775807Ki").nanos(), -MAX_NANOS);
        assert_eq!(q("1e400").nanos(), MAX_NANOS);
        assert_eq!(q("1e-400").nanos(), 1);
    }

    #[test]
    fn malformed_quantities_are_rejected() {
        let cases = [
            ("", QuantityError::FormatWrong),
            (" 1", QuantityError::FormatWrong),
            ("1 ", QuantityError::FormatWrong),
            ("1.1.M", QuantityError::FormatWrong),
            ("1+1.0M", QuantityError::FormatWrong),
            ("aoeu", QuantityError::FormatWrong),
            ("-3.01e-", QuantityError::Suffix),
            ("0.1mi", QuantityError::Suffix),
            ("1K", QuantityError::Suffix),
            ("1i", QuantityError::Suffix),
            ("Ki", QuantityError::FormatWrong),
            ("-", QuantityError::FormatWrong),
            ("1e99999999999", QuantityError::Suffix),
        ];
        for (input, error) in cases {
            assert_eq!(Quantity::parse(input).map(|q| q.to_string()), Err(error), "input {input:?}");
        }
    }

    #[test]
    fn quantities_print_in_upstreams_canonical_form() {
        let cases = [
            ("0", "0"),
            ("0Ki", "0"),
            ("-0", "0"),
            ("1Gi", "1Gi"),
            ("1024Mi", "1Gi"),
            ("307200Ki", "300Mi"),
            ("1025Ki", "1025Ki"),
            ("1.5Gi", "1536Mi"),
            ("1.5Ki", "1536"),
            ("1.0001Ki", "1024102400u"),
            (".001Ki", "1024m"),
            (".000000000001Ki", "2n"),
            ("1000M", "1G"),
            ("0.001T", "1G"),
            ("100M", "100M"),
            ("0.5", "500m"),
            ("1000m", "1"),
            ("1080m", "1080m"),
            ("1.08", "1080m"),
            ("1000u", "1m"),
            ("100m", "100m"),
            ("-100m", "-100m"),
            ("50k", "50k"),
            ("1e3", "1e3"),
            ("12e6", "12e6"),
            ("0.001e0", "1e-3"),
            ("80e-3", "80e-3"),
            ("1e0", "1"),
            ("9E", "9E"),
            // Above the cap of 2^63-1 units. (Upstream keeps `12E` exact on one of its two
            // parsing paths and caps on the other; we always cap.)
            ("12E", "9223372036854775807"),
            ("-1Mi", "-1Mi"),
        ];
        for (input, canonical) in cases {
            assert_eq!(q(input).to_string(), canonical, "input {input:?}");
        }
        assert_eq!(Quantity::new(1024, Format::BinarySI).to_string(), "1Ki");
        assert_eq!(Quantity::new(1000, Format::DecimalSI).to_string(), "1k");
        assert_eq!(Quantity::new_milli(1024, Format::BinarySI).to_string(), "1024m");
        let beyond_exa = Quantity { nanos: q("1E").nanos() * 1000, format: Format::DecimalSI };
        assert_eq!(beyond_exa.to_string(), "1e21");
    }

    #[test]
    fn milli_value_and_value_round_up_away_from_zero() {
        let cases = [
            ("100m", 100, 1),
            ("0.5", 500, 1),
            ("2", 2000, 2),
            ("1n", 1, 1),
            ("-1n", -1, -1),
            ("-1.5", -1500, -2),
            ("128Mi", 134_217_728_000, 134_217_728),
            ("9Ei", i64::MAX, i64::MAX),
        ];
        for (input, milli, value) in cases {
            assert_eq!((q(input).milli_value(), q(input).value()), (milli, value), "input {input:?}");
        }
    }

    #[test]
    fn equal_values_compare_equal_whatever_their_format() {
        assert_eq!(q("1Gi"), q("1073741824"));
        assert_eq!(q("1000m"), q("1"));
        assert_eq!(q("1k"), q("1e3"));
        assert!(q("100m") > q("50m"));
        assert!(q("10000T") > q("100Gi"));
        assert!(q("-1") < q("0"));
    }

    #[test]
    fn arithmetic_is_exact_and_keeps_the_left_format() {
        assert_eq!(q("100m") + q("200m"), q("300m"));
        assert_eq!((q("0.1") + q("0.2")).to_string(), "300m");
        assert_eq!((q("1Gi") - q("512Mi")).to_string(), "512Mi");
        assert_eq!((q("1") - q("1500m")).to_string(), "-500m");
        assert_eq!((q("0") + q("100m")).to_string(), "100m");
        assert_eq!((q("1Gi") + q("0")).to_string(), "1Gi");
        assert_eq!((q("0") - q("1Gi")).to_string(), "-1Gi");
        let total: Quantity = ["100m", "250m", "1"].iter().map(|s| q(s)).sum();
        assert_eq!(total.to_string(), "1350m");
        assert_eq!(q("9Ei").checked_add(q("9Ei")).map(|s| s.value()), Some(i64::MAX));
    }

    #[test]
    fn serde_writes_strings_and_reads_strings_and_numbers() {
        let json = serde_json::to_string(&q("1024Mi")).expect("serializes");
        assert_eq!(json, "\"1Gi\"");
        let cases = [("\"100m\"", "100m"), ("\" 1 \"", "1"), ("2", "2"), ("0.5", "500m"), ("-1", "-1"), ("null", "0")];
        for (json, canonical) in cases {
            let parsed: Quantity = serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert_eq!(parsed.to_string(), canonical, "json {json}");
        }
        assert!(serde_json::from_str::<Quantity>("\"1K\"").is_err());
        assert!(serde_json::from_str::<Quantity>("true").is_err());
    }
}
