//! Where a torrent's files go under its save folder (qBittorrent's "content
//! layout"): as the torrent has them, always in a folder of their own, or never.

use super::Info;

/// How a torrent's files are laid out under its save folder (in the daemon's
/// config and API: `original`, `subfolder`, `no_subfolder`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ContentLayout {
    /// As the torrent has them: a multi-file torrent's folder, a single file
    /// directly in the save folder.
    #[default]
    Original,
    /// Always in a folder: a single file goes into a folder named after it
    /// (without its extension).
    Subfolder,
    /// Never in a folder: a multi-file torrent's files go directly into the
    /// save folder, without the torrent's own folder.
    NoSubfolder,
}

impl ContentLayout {
    /// qBittorrent's name of it.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentLayout::Original => "Original",
            ContentLayout::Subfolder => "Subfolder",
            ContentLayout::NoSubfolder => "NoSubfolder",
        }
    }

    /// From qBittorrent's name (`None` for anything else).
    pub fn parse(s: &str) -> Option<ContentLayout> {
        [
            ContentLayout::Original,
            ContentLayout::Subfolder,
            ContentLayout::NoSubfolder,
        ]
        .into_iter()
        .find(|l| l.as_str() == s)
    }

    /// The number kept in records (0, 1, 2).
    pub fn code(self) -> u8 {
        match self {
            ContentLayout::Original => 0,
            ContentLayout::Subfolder => 1,
            ContentLayout::NoSubfolder => 2,
        }
    }

    /// From [`ContentLayout::code`].
    pub fn from_code(c: i64) -> Option<ContentLayout> {
        match c {
            0 => Some(ContentLayout::Original),
            1 => Some(ContentLayout::Subfolder),
            2 => Some(ContentLayout::NoSubfolder),
            _ => None,
        }
    }
}

impl Info {
    /// Lays the files out as `want` says. Paths only ever move from the
    /// torrent's own layout ([`Info::content_layout`] `Original`), so doing it
    /// again is a no-op; every path stays made of sanitised components, under
    /// the save folder.
    pub fn lay_out(&mut self, want: ContentLayout) {
        if self.content_layout == want || self.content_layout != ContentLayout::Original {
            return;
        }
        match want {
            ContentLayout::Original => {}
            ContentLayout::NoSubfolder if self.multi_file => {
                for f in &mut self.files {
                    // A multi-file torrent's paths are its name and at least one more.
                    if f.path.len() > 1 {
                        f.path = f.path.without_first();
                    }
                }
            }
            ContentLayout::Subfolder if !self.multi_file => {
                let folder = folder_for(&self.name);
                for f in &mut self.files {
                    f.path = f.path.under(&folder);
                }
            }
            // A multi-file torrent already has its folder; a single file has none.
            ContentLayout::Subfolder | ContentLayout::NoSubfolder => {}
        }
        self.content_layout = want;
    }
}

impl Info {
    /// Where the content lies under the download folder, as laid out: the file
    /// of a torrent with one stored file, the first folder every stored file
    /// shares, or empty (the files lie straight in it). qBittorrent's
    /// `content_path` rule.
    pub fn content_path(&self) -> String {
        self.content_path_unless("").unwrap_or_default()
    }

    /// [`Info::content_path`] when it is not `same` (most torrents' is their
    /// name): a restart of 100,000 torrents builds none of those strings.
    pub fn content_path_unless(&self, same: &str) -> Option<String> {
        let mut stored = self.files.iter().filter(|f| f.is_stored());
        let Some(first) = stored.next() else {
            return (!same.is_empty()).then(String::new);
        };
        let mut rest = stored.peekable();
        if rest.peek().is_none() {
            return (first.path.as_str() != same).then(|| first.display_path());
        }
        let top = first.path.first().unwrap_or_default();
        let shared =
            first.path.len() > 1 && rest.all(|f| f.path.len() > 1 && f.path.first() == Some(top));
        let path: &str = if shared { top } else { "" };
        (path != same).then(|| path.to_owned())
    }
}

/// The folder a single file goes into: its name without the extension, or the
/// whole name where that leaves nothing usable.
fn folder_for(name: &str) -> String {
    let stem = match name.rfind('.') {
        Some(i) if i > 0 => &name[..i],
        _ => name,
    };
    super::path::sanitize_path([stem])
        .ok()
        .and_then(|mut v| v.pop())
        .unwrap_or_else(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metainfo::{CreateLayout, CreateOptions, build_torrent};

    fn info(multi: bool, name: &str) -> Info {
        let layout = CreateLayout {
            name: name.into(),
            files: multi.then(|| {
                vec![
                    (vec!["a".into(), "e1.mkv".into()], 40_000),
                    (vec!["b.nfo".into()], 7),
                ]
            }),
            length: 40_007,
        };
        let pieces = vec![[0u8; 20]; 3];
        build_torrent(&layout, 16 * 1024, &pieces, &CreateOptions::default())
            .unwrap()
            .1
            .info
    }

    fn paths(i: &Info) -> Vec<String> {
        i.files.iter().map(|f| f.display_path()).collect()
    }

    #[test]
    fn each_layout_of_a_folder_and_of_a_single_file() {
        let mut m = info(true, "Show");
        m.lay_out(ContentLayout::Subfolder);
        assert_eq!(paths(&m), ["Show/a/e1.mkv", "Show/b.nfo"]);
        let mut m = info(true, "Show");
        m.lay_out(ContentLayout::NoSubfolder);
        assert_eq!(paths(&m), ["a/e1.mkv", "b.nfo"]);
        // Again, or another: nothing more moves.
        m.lay_out(ContentLayout::NoSubfolder);
        m.lay_out(ContentLayout::Subfolder);
        assert_eq!(paths(&m), ["a/e1.mkv", "b.nfo"]);

        let mut s = info(false, "movie.2024.mkv");
        s.lay_out(ContentLayout::NoSubfolder);
        assert_eq!(paths(&s), ["movie.2024.mkv"]);
        let mut s = info(false, "movie.2024.mkv");
        s.lay_out(ContentLayout::Subfolder);
        assert_eq!(paths(&s), ["movie.2024/movie.2024.mkv"]);
        s.lay_out(ContentLayout::Subfolder);
        assert_eq!(paths(&s), ["movie.2024/movie.2024.mkv"]);
    }

    #[test]
    fn a_folder_for_a_single_file_is_never_a_dot_or_empty() {
        for (name, folder) in [("..x", "..x"), (".hidden", ".hidden"), ("noext", "noext")] {
            let mut s = info(false, name);
            s.lay_out(ContentLayout::Subfolder);
            assert_eq!(paths(&s), [format!("{folder}/{name}")], "{name}");
        }
    }

    #[test]
    fn names_round_trip() {
        for l in [
            ContentLayout::Original,
            ContentLayout::Subfolder,
            ContentLayout::NoSubfolder,
        ] {
            assert_eq!(ContentLayout::parse(l.as_str()), Some(l));
            assert_eq!(ContentLayout::from_code(i64::from(l.code())), Some(l));
        }
        assert_eq!(ContentLayout::parse("original"), None);
    }

    #[test]
    fn the_content_path_of_each_layout() {
        let cases = [
            (true, ContentLayout::Original, "Show"),
            (true, ContentLayout::Subfolder, "Show"),
            (true, ContentLayout::NoSubfolder, ""),
            (false, ContentLayout::Original, "movie.mkv"),
            (false, ContentLayout::NoSubfolder, "movie.mkv"),
            (false, ContentLayout::Subfolder, "movie/movie.mkv"),
        ];
        for (multi, layout, want) in cases {
            let mut i = info(multi, if multi { "Show" } else { "movie.mkv" });
            i.lay_out(layout);
            assert_eq!(i.content_path(), want, "{multi} {layout:?}");
            // Compared without being built: none when it is the one given.
            assert_eq!(i.content_path_unless(want), None, "{multi} {layout:?}");
            for other in [
                "Show",
                "movie.mkv",
                "movie",
                "movie/movie.mk",
                "movie/movie.mkv/",
                "",
            ] {
                let differs = (other != want).then(|| want.to_owned());
                assert_eq!(
                    i.content_path_unless(other),
                    differs,
                    "{multi} {layout:?} {other}"
                );
            }
        }
    }
}
