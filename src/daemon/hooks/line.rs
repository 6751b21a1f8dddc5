//! A hook's command line: split into words as a shell would (quotes and
//! backslashes), never handed to a shell; then qBittorrent's placeholders
//! filled in word by word, so what a torrent's name holds (spaces, quotes,
//! `;`) stays inside the one word it was put in.

/// Splits `line` into words: blanks separate them; `'…'` keeps everything
/// inside as it is; `"…"` keeps everything but `\"`, `\\`, `\$` and `` \` ``,
/// which stand for their second character; a `\` outside quotes takes the
/// next character as it is. An empty line is no words.
pub fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word is open (an empty `""` makes a word too).
    let mut open = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if open {
                    words.push(std::mem::take(&mut word));
                    open = false;
                }
            }
            '\'' => {
                open = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("a ' is not closed".into()),
                    }
                }
            }
            '"' => {
                open = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("a \" is not closed".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("a \" is not closed".into()),
                    }
                }
            }
            '\\' => {
                open = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("the line ends with a lone \\".into()),
                }
            }
            c => {
                open = true;
                word.push(c);
            }
        }
    }
    if open {
        words.push(word);
    }
    Ok(words)
}

/// What the placeholders stand for, for one torrent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// `%N`: its name.
    pub name: String,
    /// `%L`: its category.
    pub category: String,
    /// `%G`: its labels, `,` between them (qBittorrent's tags).
    pub labels: String,
    /// `%F`: the file of a single-file torrent, else its folder.
    pub content_path: String,
    /// `%R`: its folder (empty for a single file straight in the save path).
    pub root_path: String,
    /// `%D`: the folder it is saved in.
    pub save_path: String,
    /// `%C`: how many files.
    pub files: usize,
    /// `%Z`: its size in bytes.
    pub size: u64,
    /// `%T`: the tracker it announced to last (empty: none).
    pub tracker: String,
    /// `%I`: its v1 info-hash (`-`: none, a v2-only torrent).
    pub v1: String,
    /// `%J`: its v2 info-hash (`-`: none, a v1-only torrent).
    pub v2: String,
    /// `%K`: its id (the v1 hash, or a v2-only torrent's v2 hash cut to 40
    /// digits).
    pub id: String,
}

/// `word` with each placeholder (`%N`, `%L`, …; see [`Facts`]) replaced; a
/// `%` before anything else stays as it is.
pub fn expand(word: &str, f: &Facts) -> String {
    let mut out = String::with_capacity(word.len());
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let with: Option<std::borrow::Cow<'_, str>> = match chars.peek() {
            Some('N') => Some(f.name.as_str().into()),
            Some('L') => Some(f.category.as_str().into()),
            Some('G') => Some(f.labels.as_str().into()),
            Some('F') => Some(f.content_path.as_str().into()),
            Some('R') => Some(f.root_path.as_str().into()),
            Some('D') => Some(f.save_path.as_str().into()),
            Some('C') => Some(f.files.to_string().into()),
            Some('Z') => Some(f.size.to_string().into()),
            Some('T') => Some(f.tracker.as_str().into()),
            Some('I') => Some(f.v1.as_str().into()),
            Some('J') => Some(f.v2.as_str().into()),
            Some('K') => Some(f.id.as_str().into()),
            _ => None,
        };
        match with {
            Some(s) => {
                chars.next();
                out.push_str(&s);
            }
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_as_a_shell_splits_them() {
        let w = |s: &str| split(s).unwrap();
        assert_eq!(w(""), Vec::<String>::new());
        assert_eq!(w("  a  b\tc "), ["a", "b", "c"]);
        assert_eq!(w(r#"/bin/x "%N" '%F'"#), ["/bin/x", "%N", "%F"]);
        assert_eq!(
            w(r#"sh -c "echo \"a b\" \$HOME \n""#),
            ["sh", "-c", r#"echo "a b" $HOME \n"#]
        );
        assert_eq!(w(r#"a\ b 'it''s' "" x"y"z"#), ["a b", "its", "", "xyz"]);
        assert_eq!(w(r"'\'"), ["\\"]);
        for bad in ["'open", "\"open", "a \\", r#""a\"#] {
            assert!(split(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn placeholders_fill_their_word_and_nothing_else() {
        let f = Facts {
            name: "a \"b\"; rm -rf ~".into(),
            category: "tv".into(),
            labels: "x,y".into(),
            content_path: "/srv/dl/a".into(),
            root_path: "/srv/dl/a".into(),
            save_path: "/srv/dl".into(),
            files: 2,
            size: 105_000,
            tracker: String::new(),
            v1: "ab".repeat(20),
            v2: "-".into(),
            id: "ab".repeat(20),
        };
        let words = split(r#"/bin/x "%N" %L/%G %F %R %D %C %Z [%T] %I %J %K 100% %% %q"#).unwrap();
        let got: Vec<String> = words.iter().map(|w| expand(w, &f)).collect();
        let ab = "ab".repeat(20);
        let want = [
            "/bin/x",
            "a \"b\"; rm -rf ~",
            "tv/x,y",
            "/srv/dl/a",
            "/srv/dl/a",
            "/srv/dl",
            "2",
            "105000",
            "[]",
            &ab,
            "-",
            &ab,
            "100%",
            "%%",
            "%q",
        ];
        assert_eq!(got, want);
    }
}
