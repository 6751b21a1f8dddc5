//! JSON values written by hand into a buffer, as `serde_json` would write
//! them, for the answers that list every torrent: with 100,000 torrents,
//! `serde_json`'s derived serializers spent most of a list escaping the same
//! field names again and again.

/// Appends `s` as a JSON string: copied as it is when it needs no escape (most
/// do not), else through `serde_json`.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    // A fold without an early exit: the compiler runs it on whole vectors.
    let escape = (s.bytes()).fold(false, |e, b| e | (b == b'"') | (b == b'\\') | (b < 0x20));
    if escape {
        // Writing into a Vec cannot fail.
        let _infallible = serde_json::to_writer(&mut *out, s);
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// Appends an integer.
pub fn write_int(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends a float as `serde_json` writes it.
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    // Writing into a Vec cannot fail.
    let _infallible = serde_json::to_writer(&mut *out, &v);
}

/// Appends `"name":` (a name that needs no escape: the callers' own).
pub fn write_key(out: &mut Vec<u8>, name: &str) {
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Appends `null` or the value `some` writes.
pub fn write_opt<T>(out: &mut Vec<u8>, v: Option<T>, some: impl FnOnce(&mut Vec<u8>, T)) {
    match v {
        Some(v) => some(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_as_serde_json_writes_them() {
        for s in [
            "plain",
            "",
            "q\"uote",
            "back\\slash",
            "tab\tnew\nline",
            "ünï\u{1}",
        ] {
            let mut out = Vec::new();
            write_str(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
        for f in [0.0, 1.0, 0.5, 1.0 / 3.0, 12_345.678, 1e-9] {
            let mut out = Vec::new();
            write_f64(&mut out, f);
            assert_eq!(out, serde_json::to_vec(&f).unwrap(), "{f}");
        }
        let mut out = Vec::new();
        write_int(&mut out, u64::MAX);
        write_opt(&mut out, None::<u8>, write_int);
        assert_eq!(out, b"18446744073709551615null");
    }
}
