//! BCD helpers and the byte-sum checksum shared by DL/T 645 and CJ/T 188.
//!
//! Both meter protocols send numbers as packed BCD (two decimal digits per
//! byte, high digit in the high nibble), least significant byte first, and
//! close a frame with the sum of its bytes modulo 256. Addresses are printed
//! on the nameplate most significant digit first, the reverse of the wire.

/// The sum of `bytes` modulo 256 (the CS byte of DL/T 645 and CJ/T 188).
pub fn sum8(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b))
}

/// The value 0..=99 of one packed BCD byte, `None` if a nibble is over 9.
pub fn from_bcd(b: u8) -> Option<u8> {
    let (hi, lo) = (b >> 4, b & 0x0f);
    (hi <= 9 && lo <= 9).then_some(hi * 10 + lo)
}

/// One packed BCD byte of `n % 100`.
pub fn to_bcd(n: u8) -> u8 {
    let n = n % 100;
    ((n / 10) << 4) | (n % 10)
}

/// Why a nameplate address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("expected {want} digits, got {got}")]
    Length { want: usize, got: usize },
    #[error("{0:?} is not a decimal digit (or A for a wildcard byte)")]
    Digit(char),
}

/// Parses a nameplate address (most significant digit first) into wire
/// order (least significant byte first). `AA` pairs are kept as wildcard
/// bytes (`0xAA`), as DL/T 645 and CJ/T 188 allow; any other letter is
/// refused.
pub fn parse_nameplate<const N: usize>(s: &str) -> Result<[u8; N], AddressError> {
    let digits: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() != 2 * N {
        return Err(AddressError::Length {
            want: 2 * N,
            got: digits.len(),
        });
    }
    let mut out = [0u8; N];
    for (i, pair) in digits.chunks(2).enumerate() {
        let nib = |c: char| match c {
            '0'..='9' => Ok(c as u8 - b'0'),
            'A' | 'a' => Ok(0x0a),
            _ => Err(AddressError::Digit(c)),
        };
        let (h, l) = match pair {
            [h, l] => (*h, *l),
            _ => {
                return Err(AddressError::Length {
                    want: 2 * N,
                    got: digits.len(),
                })
            }
        };
        let (hi, lo) = (nib(h)?, nib(l)?);
        // A single `A` next to a digit is a typo, not a wildcard.
        if (hi == 0x0a) != (lo == 0x0a) {
            return Err(AddressError::Digit(if hi == 0x0a { h } else { l }));
        }
        if let Some(slot) = out.get_mut(N - 1 - i) {
            *slot = (hi << 4) | lo;
        }
    }
    Ok(out)
}

/// Writes wire-order address bytes as the nameplate prints them (most
/// significant byte first, two hex digits a byte, so BCD reads as decimal
/// and a wildcard byte as `AA`).
pub fn fmt_nameplate(wire: &[u8], f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    for b in wire.iter().rev() {
        write!(f, "{b:02X}")?;
    }
    Ok(())
}

/// How a BCD number is laid out: its byte count, decimal places, and whether
/// bit 7 of the most significant byte is a sign (DL/T 645 current, power and
/// power factor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    pub bytes: u8,
    pub decimals: u8,
    pub signed: bool,
}

impl Format {
    pub const fn new(bytes: u8, decimals: u8, signed: bool) -> Self {
        Format {
            bytes,
            decimals,
            signed,
        }
    }
}

/// A decoded BCD number: `raw / 10^decimals`, exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    pub raw: i64,
    pub decimals: u8,
}

impl Decimal {
    pub fn to_f64(self) -> f64 {
        self.raw as f64 / 10f64.powi(i32::from(self.decimals))
    }
}

/// Why a BCD value did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BcdError {
    #[error("{got} value bytes, the format needs {want}")]
    Short { want: u8, got: usize },
    #[error("byte {0:#04x} is not BCD")]
    NotBcd(u8),
}

/// Decodes one value from `bytes` (least significant byte first, exactly
/// `fmt.bytes` of them). All bytes `0xFF` mean "not supported by this
/// meter": `Ok(None)`. At most 9 bytes (18 digits) are read.
pub fn decode(bytes: &[u8], fmt: Format) -> Result<Option<Decimal>, BcdError> {
    let n = usize::from(fmt.bytes);
    if bytes.len() != n || n == 0 || n > 9 {
        return Err(BcdError::Short {
            want: fmt.bytes,
            got: bytes.len(),
        });
    }
    if bytes.iter().all(|b| *b == 0xff) {
        return Ok(None);
    }
    let mut raw: i64 = 0;
    let mut negative = false;
    for (i, b) in bytes.iter().enumerate().rev() {
        let mut b = *b;
        if fmt.signed && i == n - 1 {
            negative = b & 0x80 != 0;
            b &= 0x7f;
        }
        let v = from_bcd(b).ok_or(BcdError::NotBcd(b))?;
        raw = raw * 100 + i64::from(v);
    }
    Ok(Some(Decimal {
        raw: if negative { -raw } else { raw },
        decimals: fmt.decimals,
    }))
}

/// Encodes `value` into `fmt.bytes` BCD bytes, least significant first;
/// `None` if it does not fit (or is negative in an unsigned format).
pub fn encode(value: i64, fmt: Format, out: &mut Vec<u8>) -> Option<()> {
    let n = usize::from(fmt.bytes);
    if n == 0 || n > 9 || (value < 0 && !fmt.signed) {
        return None;
    }
    let mut mag = value.unsigned_abs();
    let start = out.len();
    for _ in 0..n {
        out.push(to_bcd((mag % 100) as u8));
        mag /= 100;
    }
    let top = out.get(start + n - 1).copied().unwrap_or(0);
    if mag != 0 || (fmt.signed && top & 0x80 != 0) {
        out.truncate(start);
        return None;
    }
    if value < 0 {
        if let Some(b) = out.last_mut() {
            *b |= 0x80;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameplate_digits_are_reversed_on_the_wire() {
        let wire: [u8; 6] = parse_nameplate("398192000337").unwrap();
        assert_eq!(wire, [0x37, 0x03, 0x00, 0x92, 0x81, 0x39]);
        assert_eq!(parse_nameplate::<6>("AAAAAAAAAAAA").unwrap(), [0xaa; 6]);
        assert!(matches!(
            parse_nameplate::<6>("39819200033"),
            Err(AddressError::Length { .. })
        ));
        assert_eq!(
            parse_nameplate::<6>("3981920003A7"),
            Err(AddressError::Digit('A'))
        );
        assert_eq!(
            parse_nameplate::<6>("39819200033x"),
            Err(AddressError::Digit('x'))
        );
    }

    #[test]
    fn signed_values_carry_the_sign_in_bit_7_of_the_last_byte() {
        // protocols.md: `00 15 80` = -1.500 A (XXX.XXX, signed).
        let v = decode(&[0x00, 0x15, 0x80], Format::new(3, 3, true))
            .unwrap()
            .unwrap();
        assert_eq!(
            v,
            Decimal {
                raw: -1500,
                decimals: 3
            }
        );
        let mut out = Vec::new();
        encode(-1500, Format::new(3, 3, true), &mut out).unwrap();
        assert_eq!(out, [0x00, 0x15, 0x80]);
    }

    #[test]
    fn ff_filled_values_are_absent_and_other_hex_is_refused() {
        assert_eq!(decode(&[0xff; 4], Format::new(4, 2, false)), Ok(None));
        assert_eq!(
            decode(&[0x1a, 0, 0, 0], Format::new(4, 2, false)),
            Err(BcdError::NotBcd(0x1a))
        );
        assert!(encode(100_000_000, Format::new(4, 2, false), &mut Vec::new()).is_none());
    }
}
