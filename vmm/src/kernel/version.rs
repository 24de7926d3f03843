//! Ordering of Debian package versions and kernel release strings, the way
//! dpkg orders them: `7.0.10` after `7.0.9`, `~` before anything (so
//! `7.3.4-1~bpo13+1` comes before `7.3.4-1`).

use std::cmp::Ordering;

/// Compares two Debian versions (`[epoch:]upstream[-revision]`).
pub fn compare_debian_versions(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split_version(a);
    let (eb, ub, rb) = split_version(b);
    ea.cmp(&eb)
        .then_with(|| compare_version_parts(ua, ub))
        .then_with(|| compare_version_parts(ra, rb))
}

/// Compares two kernel release strings (`7.3.4+deb13-cloud-amd64`) as a
/// whole with dpkg's rules, hyphens included.
pub fn compare_releases(a: &str, b: &str) -> Ordering {
    compare_version_parts(a, b)
}

fn split_version(v: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            (e.parse().unwrap_or(u64::MAX), rest)
        }
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// The weight of a character in the non-digit runs: `~` first, then the end
/// of the string (and digits), then letters, then everything else.
fn weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's comparison of one version part: alternating runs of non-digits
/// (compared by [`weight`]) and digits (compared as numbers).
fn compare_version_parts(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (wa, wb) = (weight(a.get(i).copied()), weight(b.get(j).copied()));
            if wa != wb {
                return wa.cmp(&wb);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn dpkg_ordering() {
        let cases = [
            ("1.0", "1.0", Equal),
            ("7.0.10", "7.0.9", Greater),
            ("7.3.4", "7.10.1", Less),
            ("7.3.4-1~bpo13+1", "7.3.4-1", Less),
            ("7.3.4-1", "7.3.4-1+b1", Less),
            ("1:1.0", "2.0", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0a", "1.0", Greater),
            ("1.0+x", "1.0a", Greater),
            ("1.01", "1.1", Equal),
            ("6.19.14+deb13", "7.0.4+deb13", Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare_debian_versions(a, b), want, "{a} vs {b}");
            assert_eq!(compare_debian_versions(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn release_ordering() {
        let mut r = vec![
            "7.0.9+deb13-cloud-amd64",
            "7.3.4+deb13-cloud-amd64",
            "6.19.14+deb13-cloud-amd64",
            "7.0.10+deb13-cloud-amd64",
        ];
        r.sort_by(|a, b| compare_releases(a, b));
        assert_eq!(
            r,
            [
                "6.19.14+deb13-cloud-amd64",
                "7.0.9+deb13-cloud-amd64",
                "7.0.10+deb13-cloud-amd64",
                "7.3.4+deb13-cloud-amd64"
            ]
        );
    }
}
