//! Path safety: turning the path components a torrent names into components that can
//! only ever point inside the torrent's own folder.
//!
//! The rules, one per kind of hostile or broken component (each has a test):
//!
//! | component | what happens | why |
//! | --- | --- | --- |
//! | `..` | **rejected**: the torrent does not load | it exists only to climb out of the folder |
//! | contains NUL | **rejected** | no filesystem can store it; C APIs would cut the name short |
//! | `.` or empty | dropped | means "this folder"; harmless once removed |
//! | contains `/` or `\` | each separator becomes `_` | a component is one name, never a path; this also defuses absolute paths such as `/etc/passwd` |
//! | starts with a drive letter (`C:`) | the colon becomes `_` | Windows would read it as another drive |
//! | longer than 255 bytes | cut to 255 bytes on a character boundary, keeping the extension | the Linux limit for one name |
//!
//! A path that has no components left after this is rejected. Sanitising never
//! produces `.`, `..`, an empty name, or a separator, so joining the result under a
//! folder always stays inside that folder.

/// Why a path from a torrent cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsafePath {
    /// A `..` component.
    #[error("'..' component")]
    ParentDir,
    /// A component with a NUL byte.
    #[error("NUL byte in a component")]
    Nul,
    /// Nothing left once `.` and empty components are dropped.
    #[error("no usable component")]
    Empty,
}

/// The longest single file name Linux accepts, in bytes.
pub const NAME_MAX_BYTES: usize = 255;

/// Whether no rule of the module table applies to a component: it is kept
/// as it is (nearly every component a torrent names). The one test both
/// sanitisers take their quick way by, so a rule added below must be added
/// here too.
fn left_as_is(c: &str) -> bool {
    let b = c.as_bytes();
    !c.is_empty()
        && c != "."
        && c != ".."
        && c.len() <= NAME_MAX_BYTES
        && !b.iter().any(|&x| matches!(x, b'\0' | b'/' | b'\\'))
        && !(b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':')
}

/// Makes one component safe, or says why it cannot be. `Ok(None)` means the component
/// is dropped (`.` or empty).
pub fn sanitize_component(raw: &str) -> Result<Option<String>, UnsafePath> {
    if left_as_is(raw) {
        return Ok(Some(raw.to_owned()));
    }
    if raw.contains('\0') {
        return Err(UnsafePath::Nul);
    }
    if raw == ".." {
        return Err(UnsafePath::ParentDir);
    }
    if raw.is_empty() || raw == "." {
        return Ok(None);
    }
    // Most components have no separator: copied whole, at their length.
    let mut s = if raw.bytes().any(|b| b == b'/' || b == b'\\') {
        raw.replace(['/', '\\'], "_")
    } else {
        raw.to_owned()
    };
    let b = s.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        s.replace_range(1..2, "_");
    }
    if s.len() > NAME_MAX_BYTES {
        s = truncate_keeping_extension(&s, NAME_MAX_BYTES);
    }
    // Separators became '_', so the result can no longer be "." or "..": a name made
    // only of dots and separators (like "./") turns into something like "._".
    debug_assert!(s != "." && s != ".." && !s.is_empty() && !s.contains('/'));
    // Kept for the torrent's life, once per file (a million at 100,000 torrents):
    // no spare capacity.
    s.shrink_to_fit();
    Ok(Some(s))
}

/// Sanitises a whole file path (a list of components) into one
/// [`FilePath`](super::FilePath), each component appended where the rules
/// leave it as it is (most do) without a string of its own; see the module
/// table.
pub fn sanitize_file_path<'a, I>(components: I) -> Result<super::FilePath, UnsafePath>
where
    I: IntoIterator<Item = &'a str>,
    I::IntoIter: Clone,
{
    let components = components.into_iter();
    // Sized once: sanitising never makes a component longer, so the string
    // is kept as it is, not copied to fit.
    let most = components.clone().map(|c| c.len() + 1).sum::<usize>();
    let mut out = String::with_capacity(most.saturating_sub(1));
    for c in components {
        let own;
        let part = if left_as_is(c) {
            c
        } else {
            match sanitize_component(c)? {
                Some(s) => {
                    own = s;
                    own.as_str()
                }
                None => continue,
            }
        };
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(part);
    }
    if out.is_empty() {
        return Err(UnsafePath::Empty);
    }
    Ok(super::FilePath::joined(out))
}

/// Sanitises a whole path (a list of components); see the module table.
pub fn sanitize_path<'a, I>(components: I) -> Result<Vec<String>, UnsafePath>
where
    I: IntoIterator<Item = &'a str>,
{
    let components = components.into_iter();
    let mut out = Vec::with_capacity(components.size_hint().0);
    for c in components {
        if let Some(s) = sanitize_component(c)? {
            out.push(s);
        }
    }
    if out.is_empty() {
        return Err(UnsafePath::Empty);
    }
    out.shrink_to_fit();
    Ok(out)
}

fn truncate_keeping_extension(s: &str, max: usize) -> String {
    // An extension worth keeping is short and not the whole name.
    let ext = match s.rfind('.') {
        Some(i) if i > 0 && s.len() - i <= 16 => &s[i..],
        _ => "",
    };
    let mut cut = max - ext.len();
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{}", &s[..cut], ext)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Result<Option<String>, UnsafePath> {
        sanitize_component(s)
    }

    #[test]
    fn a_file_path_is_its_sanitised_components_joined() {
        let long = "n".repeat(300) + ".mkv";
        let cases: [&[&str]; 11] = [
            &["Show", "Season 1", "e01.mkv"],
            &["a", ".", "", "b"],
            &["a/b", "c\\d"],
            &["C:", "x"],
            &["c:stuff"],
            &[&long],
            &["x", ".."],
            &["x\0y"],
            &[".", ""],
            &[],
            &["..a", "a..", "...", " "],
        ];
        for parts in cases {
            let joined = sanitize_file_path(parts.iter().copied());
            let listed = sanitize_path(parts.iter().copied());
            assert_eq!(joined.map(|p| p.to_vec()), listed, "{parts:?}");
        }
    }

    #[test]
    fn parent_dir_is_rejected() {
        assert_eq!(one(".."), Err(UnsafePath::ParentDir));
        assert_eq!(sanitize_path(["a", "..", "b"]), Err(UnsafePath::ParentDir));
    }

    #[test]
    fn nul_is_rejected() {
        assert_eq!(one("a\0b"), Err(UnsafePath::Nul));
    }

    #[test]
    fn dot_and_empty_are_dropped() {
        assert_eq!(one("."), Ok(None));
        assert_eq!(one(""), Ok(None));
        assert_eq!(sanitize_path([".", "a", "", "b"]).unwrap(), ["a", "b"]);
        assert_eq!(sanitize_path([".", ""]), Err(UnsafePath::Empty));
        assert_eq!(sanitize_path(std::iter::empty()), Err(UnsafePath::Empty));
    }

    #[test]
    fn separators_inside_a_component_are_replaced() {
        assert_eq!(one("/etc/passwd").unwrap().unwrap(), "_etc_passwd");
        assert_eq!(one("..\\..\\win.ini").unwrap().unwrap(), ".._.._win.ini");
        assert_eq!(one("../x").unwrap().unwrap(), ".._x");
        assert_eq!(one("./").unwrap().unwrap(), "._");
    }

    #[test]
    fn drive_letters_are_defused() {
        assert_eq!(one("C:").unwrap().unwrap(), "C_");
        assert_eq!(one("c:evil").unwrap().unwrap(), "c_evil");
        assert_eq!(one("note:1").unwrap().unwrap(), "note:1");
    }

    #[test]
    fn long_names_are_cut_keeping_the_extension() {
        let long = format!("{}.mkv", "é".repeat(200));
        let s = one(&long).unwrap().unwrap();
        assert!(s.len() <= NAME_MAX_BYTES);
        assert!(s.ends_with(".mkv"));
    }

    #[test]
    fn ordinary_names_are_untouched() {
        for name in ["Season 1", "film (2020).mkv", ".hidden", "a..b", "…"] {
            assert_eq!(one(name).unwrap().unwrap(), name);
        }
    }
}
