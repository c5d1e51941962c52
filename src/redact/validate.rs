//! Check-digit and shape validators for the identifiers the redactor looks
//! for: payment cards (Luhn), IBANs (ISO 13616 mod 97 and the length each
//! country uses), the German tax identification number (ISO 7064 MOD 11,10
//! and its digit-repetition rule), the German identity card number (7-3-1
//! weights), the Dutch BSN (11-proof), US social security numbers (area,
//! group and serial rules) and IP addresses.
//!
//! Every function takes the candidate as written and ignores separators it
//! does not care about; none of them panics on any input. A number that fails
//! its check is not an identifier: it is left in the text.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The ASCII digits of `s`, in order, as numbers 0–9.
pub fn digits(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

/// Whether the digit sequence passes the Luhn check (payment cards).
pub fn luhn(digits: &[u8]) -> bool {
    if digits.is_empty() {
        return false;
    }
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Whether `s` (spaces and dashes allowed) is a plausible payment card
/// number: 13–19 digits, an issuer prefix of one of the card networks, not a
/// run of one digit, and a valid Luhn check digit.
pub fn card(s: &str) -> bool {
    let d = digits(s);
    if !(13..=19).contains(&d.len()) || d.iter().all(|&x| x == d[0]) {
        return false;
    }
    // Issuer identification: 2 (Mastercard 2221–2720), 3 (Amex, Diners,
    // JCB), 4 (Visa), 5 (Mastercard, Maestro), 6 (Discover, UnionPay,
    // Maestro). Numbers starting with 0, 1, 7, 8 or 9 are account, ISBN or
    // tracking numbers far more often than cards.
    let ok_prefix = match d[0] {
        2 => {
            let p = d[..4].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
            (2221..=2720).contains(&p)
        }
        3..=6 => true,
        _ => false,
    };
    ok_prefix && luhn(&d)
}

/// The IBAN length of a country (ISO 13616 registry), or `None` for a code
/// that does not issue IBANs.
pub fn iban_length(country: &str) -> Option<usize> {
    let len = match country {
        "AD" => 24,
        "AE" => 23,
        "AL" => 28,
        "AT" => 20,
        "AZ" => 28,
        "BA" => 20,
        "BE" => 16,
        "BG" => 22,
        "BH" => 22,
        "BR" => 29,
        "BY" => 28,
        "CH" => 21,
        "CR" => 22,
        "CY" => 28,
        "CZ" => 24,
        "DE" => 22,
        "DK" => 18,
        "DO" => 28,
        "EE" => 20,
        "EG" => 29,
        "ES" => 24,
        "FI" => 18,
        "FO" => 18,
        "FR" => 27,
        "GB" => 22,
        "GE" => 22,
        "GI" => 23,
        "GL" => 18,
        "GR" => 27,
        "GT" => 28,
        "HR" => 21,
        "HU" => 28,
        "IE" => 22,
        "IL" => 23,
        "IQ" => 23,
        "IS" => 26,
        "IT" => 27,
        "JO" => 30,
        "KW" => 30,
        "KZ" => 20,
        "LB" => 28,
        "LC" => 32,
        "LI" => 21,
        "LT" => 20,
        "LU" => 20,
        "LV" => 21,
        "MC" => 27,
        "MD" => 24,
        "ME" => 22,
        "MK" => 19,
        "MR" => 27,
        "MT" => 31,
        "MU" => 30,
        "NL" => 18,
        "NO" => 15,
        "PK" => 24,
        "PL" => 28,
        "PS" => 29,
        "PT" => 25,
        "QA" => 29,
        "RO" => 24,
        "RS" => 22,
        "SA" => 24,
        "SC" => 31,
        "SE" => 24,
        "SI" => 19,
        "SK" => 24,
        "SM" => 27,
        "ST" => 25,
        "SV" => 28,
        "TL" => 23,
        "TN" => 24,
        "TR" => 26,
        "UA" => 29,
        "VA" => 22,
        "VG" => 24,
        "XK" => 20,
        _ => return None,
    };
    Some(len)
}

/// Whether `s` (spaces allowed, any case) is a valid IBAN: a known country,
/// that country's length, alphanumerics only, and the mod-97 check.
pub fn iban(s: &str) -> bool {
    let compact: Vec<u8> = s
        .bytes()
        .filter(|b| *b != b' ')
        .map(|b| b.to_ascii_uppercase())
        .collect();
    if compact.len() < 5 || !compact.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    if !compact[..2].iter().all(u8::is_ascii_uppercase)
        || !compact[2..4].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let Ok(country) = std::str::from_utf8(&compact[..2]) else {
        return false;
    };
    if iban_length(country) != Some(compact.len()) {
        return false;
    }
    // Move the first four characters to the end, read letters as 10–35 and
    // reduce the whole number mod 97 piece by piece; a valid IBAN leaves 1.
    let mut rem = 0u32;
    for &b in compact[4..].iter().chain(compact[..4].iter()) {
        let v = if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            u32::from(b - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// The ISO 7064 MOD 11,10 check digit for `digits`.
pub fn mod11_10(digits: &[u8]) -> u8 {
    let mut product = 10u32;
    for &d in digits {
        let mut sum = (u32::from(d) + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (sum * 2) % 11;
    }
    let check = 11 - product;
    if check == 10 { 0 } else { check as u8 }
}

/// Whether `s` (spaces allowed) is a valid German tax identification number
/// (Steuer-Identifikationsnummer): 11 digits, no leading zero, in the first
/// ten digits exactly one digit occurs twice or three times (three times not
/// in a row) and every other digit at most once, and the MOD 11,10 check digit.
pub fn steuer_id(s: &str) -> bool {
    if !s.bytes().all(|b| b.is_ascii_digit() || b == b' ') {
        return false;
    }
    let d = digits(s);
    if d.len() != 11 || d[0] == 0 {
        return false;
    }
    let mut counts = [0u8; 10];
    for &x in &d[..10] {
        counts[usize::from(x)] += 1;
    }
    let repeated: Vec<u8> = counts.iter().copied().filter(|&c| c > 1).collect();
    if repeated.len() != 1 || !(2..=3).contains(&repeated[0]) {
        return false;
    }
    if repeated[0] == 3 && d[..10].windows(3).any(|w| w[0] == w[1] && w[1] == w[2]) {
        return false;
    }
    mod11_10(&d[..10]) == d[10]
}

/// The value of a character in machine-readable-zone check digits: digits as
/// themselves, letters A–Z as 10–35.
fn mrz_value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => Some(u32::from(c - b'A') + 10),
        _ => None,
    }
}

/// The 7-3-1 check digit used by identity documents (ICAO 9303).
pub fn check_731(s: &str) -> Option<u8> {
    let mut sum = 0u32;
    for (i, b) in s.bytes().enumerate() {
        let w = [7, 3, 1][i % 3];
        sum += mrz_value(b)? * w;
    }
    Some((sum % 10) as u8)
}

/// Whether `s` is a German identity card (Personalausweis) document number
/// written with its check digit: nine characters from the alphabet the
/// Bundesdruckerei uses (digits and C F G H J K L M N P R T V W X Y Z), then
/// the 7-3-1 check digit.
pub fn personalausweis(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || !b[9].is_ascii_digit() {
        return false;
    }
    let alphabet_ok = b[..9]
        .iter()
        .all(|c| c.is_ascii_digit() || b"CFGHJKLMNPRTVWXYZ".contains(c));
    if !alphabet_ok {
        return false;
    }
    check_731(&s[..9]) == Some(b[9] - b'0')
}

/// Whether `s` (dots and spaces allowed) is a valid Dutch citizen service
/// number (BSN): nine digits passing the 11-proof
/// 9·d1 + 8·d2 + … + 2·d8 − d9 ≡ 0 (mod 11), not all zero.
pub fn bsn(s: &str) -> bool {
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b' ' || b == b'.')
    {
        return false;
    }
    let d = digits(s);
    if d.len() != 9 || d.iter().all(|&x| x == 0) {
        return false;
    }
    let mut sum: i32 = 0;
    for (i, &x) in d[..8].iter().enumerate() {
        sum += i32::from(x) * (9 - i as i32);
    }
    sum -= i32::from(d[8]);
    sum.rem_euclid(11) == 0
}

/// Whether `s` (dashes or spaces allowed) is a US social security number by
/// the rules the SSA has used: nine digits, area not 000, 666 or 900–999,
/// group not 00, serial not 0000. There is no check digit.
pub fn ssn(s: &str) -> bool {
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b' ' || b == b'-')
    {
        return false;
    }
    let d = digits(s);
    if d.len() != 9 {
        return false;
    }
    let area = u32::from(d[0]) * 100 + u32::from(d[1]) * 10 + u32::from(d[2]);
    let group = u32::from(d[3]) * 10 + u32::from(d[4]);
    let serial = d[5..].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// Whether `s` is a dotted-quad IPv4 address: four decimal octets ≤ 255
/// without leading zeros (a leading zero is a version or a phone number far
/// more often than an address).
pub fn ipv4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return false;
    }
    let shapes_ok = parts
        .iter()
        .all(|p| !p.is_empty() && p.len() <= 3 && !(p.len() > 1 && p.starts_with('0')));
    shapes_ok && s.parse::<Ipv4Addr>().is_ok()
}

/// Whether `s` is an IPv6 address in any standard notation (compressed,
/// embedded IPv4) that identifies a host: not the unspecified or loopback
/// address, and with at least one group of three or more hex digits (so that
/// "a::b" or "1:2:3:4:5:6:7:8" in ordinary text is not taken for one).
pub fn ipv6(s: &str) -> bool {
    let Ok(addr) = s.parse::<Ipv6Addr>() else {
        return false;
    };
    if addr.is_unspecified() || addr.is_loopback() {
        return false;
    }
    s.split([':', '.'])
        .any(|g| g.len() >= 3 && g.bytes().all(|b| b.is_ascii_hexdigit()))
}
