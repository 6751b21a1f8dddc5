//! Categories and tags: the names a seedbox's tools file torrents under.
//!
//! A category is a name (`tv`, `tv/hd`) and a save path: where torrents filed
//! under it are stored. The save path is empty (the default root), a root's
//! token, or an absolute folder that is a root's folder or inside one (a folder
//! inside a root becomes a plain-folder root of its own when a torrent first goes
//! there). A torrent has at most one category; one that follows its category
//! (not placed by hand) moves with it, as qBittorrent's automatic torrent
//! management does (`placement`).
//!
//! Tags are free-form names, a torrent has any number (the engine calls them
//! labels on a torrent); the catalog keeps the set every client lists, which
//! grows when a torrent is given a tag it does not hold yet.
//!
//! Both are saved under `settings:catalog` in the session store, bencoded:
//! `{c: {name: save path}, t: [tags]}`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use super::{Engine, EngineError};
use crate::bencode::{self, Node, OwnedValue};
use crate::core::{AddTorrent, CommandError, clean_category, clean_labels};
use crate::resume_lmdb::SessionStore;
use crate::roots::Root;

/// Where the catalog is saved.
pub const CATALOG_KEY: &[u8] = b"settings:catalog";

/// Most categories one engine keeps.
pub const MAX_CATEGORIES: usize = 4096;
/// Most tags one engine keeps.
pub const MAX_TAGS: usize = 4096;

/// Why a catalog change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// A bad name or save path.
    #[error("{0}")]
    Invalid(String),
    /// The category exists already.
    #[error("category {0:?} already exists")]
    Exists(String),
    /// No such category.
    #[error("no category {0:?}")]
    Unknown(String),
    /// The catalog could not be saved or read.
    #[error("saved catalog: {0}")]
    Store(String),
}

/// The categories and tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Category name to save path (as given: empty, a token or a folder).
    pub categories: BTreeMap<String, String>,
    /// Every tag clients list.
    pub tags: BTreeSet<String>,
}

impl Catalog {
    /// The catalog's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut d = OwnedValue::dict();
        let mut c = OwnedValue::dict();
        for (name, path) in &self.categories {
            c.insert(name, path.as_str());
        }
        d.insert("c", c);
        let tags = self.tags.iter().map(|t| t.as_str().into()).collect();
        d.insert("t", OwnedValue::List(tags));
        d.encode()
    }

    /// Reads what [`Catalog::encode`] wrote.
    pub fn decode(bytes: &[u8]) -> Result<Catalog, CatalogError> {
        let bad = |m: &str| CatalogError::Store(format!("corrupted catalog: {m}"));
        let root =
            bencode::decode(bytes, bencode::Limits::default()).map_err(|e| bad(&e.to_string()))?;
        let mut cat = Catalog::default();
        let cats = root.get("c").ok_or_else(|| bad("no categories"))?;
        for (name, path) in cats.as_dict().ok_or_else(|| bad("categories"))? {
            let name = std::str::from_utf8(name).map_err(|_| bad("category name"))?;
            let path = path.as_str().ok_or_else(|| bad("save path"))?;
            cat.categories.insert(name.to_owned(), path.to_owned());
        }
        for t in root
            .get("t")
            .and_then(Node::as_list)
            .ok_or_else(|| bad("tags"))?
        {
            cat.tags
                .insert(t.as_str().ok_or_else(|| bad("tag"))?.to_owned());
        }
        Ok(cat)
    }

    /// Loads the saved catalog; an empty one if none was saved.
    pub fn load(store: &dyn SessionStore) -> Result<Catalog, CatalogError> {
        match store.get(CATALOG_KEY) {
            Ok(Some(bytes)) => Catalog::decode(&bytes),
            Ok(None) => Ok(Catalog::default()),
            Err(e) => Err(CatalogError::Store(e.to_string())),
        }
    }
}

/// A category name that may be created: clean and not empty.
fn category_name(name: &str) -> Result<String, CatalogError> {
    let n = clean_category(name).map_err(|e| CatalogError::Invalid(e.to_string()))?;
    if n.is_empty() {
        return Err(CatalogError::Invalid("a category needs a name".into()));
    }
    Ok(n)
}

/// Tags as torrents keep them (see [`clean_labels`]).
fn clean_tags(tags: &[String]) -> Result<Vec<String>, CatalogError> {
    clean_labels(tags).map_err(|e| CatalogError::Invalid(e.to_string()))
}

/// `path` without `.` and `..`: `None` if it is relative or climbs out of `/`.
fn normal(path: &Path) -> Option<PathBuf> {
    if !path.is_absolute() {
        return None;
    }
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(p) => out.push(p),
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

impl Engine {
    fn catalog_lock(&self) -> std::sync::MutexGuard<'_, Catalog> {
        // Plain data every method leaves consistent.
        self.inner
            .catalog
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Saves the catalog as it is now (under the caller's hold).
    fn save_catalog(&self, c: &Catalog) -> Result<(), CatalogError> {
        self.store()
            .set(CATALOG_KEY, &c.encode())
            .map_err(|e| CatalogError::Store(e.to_string()))
    }

    /// The categories, name to save path (as given).
    pub fn categories(&self) -> BTreeMap<String, String> {
        self.catalog_lock().categories.clone()
    }

    /// Every tag clients list.
    pub fn tags(&self) -> Vec<String> {
        self.catalog_lock().tags.iter().cloned().collect()
    }

    /// The root a save path names: empty for the default root, a root's token,
    /// or an absolute folder that is a root's or inside one (`None` for a folder
    /// inside a root that is not a root yet: it is made one when used).
    fn save_path_root(&self, save_path: &str) -> Result<Option<Root>, CatalogError> {
        let roots = self.roots_lock();
        if save_path.is_empty() {
            return roots
                .default_root()
                .cloned()
                .map(Some)
                .map_err(|e| CatalogError::Invalid(e.to_string()));
        }
        if let Some(r) = roots.list().find(|r| r.token == save_path) {
            return Ok(Some(r.clone()));
        }
        let outside = || {
            CatalogError::Invalid(format!(
                "save path {save_path:?} is not a storage root's token or a folder inside a root"
            ))
        };
        let path = normal(Path::new(save_path)).ok_or_else(outside)?;
        if let Some(r) = roots.list().find(|r| r.path == path) {
            return Ok(Some(r.clone()));
        }
        if roots.list().any(|r| r.marked && path.starts_with(&r.path)) {
            return Ok(None);
        }
        Err(outside())
    }

    /// Checks a save path: `Err` unless [`Engine::save_path_root`] takes it;
    /// a folder comes back without `.` and `..`.
    fn check_save_path(&self, save_path: &str) -> Result<String, CatalogError> {
        let p = save_path.trim();
        self.save_path_root(p)?;
        Ok(match normal(Path::new(p)) {
            Some(folder) => folder.to_string_lossy().into_owned(),
            None => p.to_owned(),
        })
    }

    /// The root token torrents saved to `save_path` go to, making a folder
    /// inside a root a plain-folder root of its own the first time.
    pub fn root_for_save_path(&self, save_path: &str) -> Result<String, EngineError> {
        match self.save_path_root(save_path.trim())? {
            Some(r) => Ok(r.token),
            None => {
                let path = normal(Path::new(save_path.trim())).expect("checked above");
                Ok(self.resolve_root(&path.to_string_lossy())?.token)
            }
        }
    }

    /// The root token of a category's save path (`Err` for an unknown category).
    pub fn category_root(&self, name: &str) -> Result<String, EngineError> {
        let path = self
            .catalog_lock()
            .categories
            .get(name)
            .cloned()
            .ok_or_else(|| CatalogError::Unknown(name.to_owned()))?;
        self.root_for_save_path(&path)
    }

    /// Creates a category.
    pub fn create_category(&self, name: &str, save_path: &str) -> Result<(), CatalogError> {
        let name = category_name(name)?;
        let path = self.check_save_path(save_path)?;
        let mut c = self.catalog_lock();
        if c.categories.contains_key(&name) {
            return Err(CatalogError::Exists(name));
        }
        if c.categories.len() >= MAX_CATEGORIES {
            return Err(CatalogError::Invalid(format!(
                "at most {MAX_CATEGORIES} categories"
            )));
        }
        c.categories.insert(name, path);
        self.save_catalog(&c)
    }

    /// Changes a category's save path and sends the torrents that follow it
    /// there (see [`Engine::send_to`]; one that cannot move is said in the
    /// log and stays where it is). Torrents placed by hand stay.
    pub fn edit_category(&self, name: &str, save_path: &str) -> Result<(), EngineError> {
        let path = self.check_save_path(save_path)?;
        {
            let mut c = self.catalog_lock();
            let slot = c
                .categories
                .get_mut(name)
                .ok_or_else(|| CatalogError::Unknown(name.to_owned()))?;
            *slot = path;
            self.save_catalog(&c)?;
        }
        let token = self.category_root(name)?;
        for s in pollster::block_on(self.all_stats_async())? {
            if s.settings.category == name
                && !s.settings.manual
                && let Err(e) = self.send_to(&s, &token)
            {
                tracing::warn!(info_hash = %s.info_hash, root = token, error = %e,
                    "category moved, torrent not: it stays where it is");
            }
        }
        Ok(())
    }

    /// Removes categories; their torrents are left without one: those that
    /// follow their category go to the default root (as qBittorrent's
    /// managed torrents do), those placed by hand stay where they are.
    pub fn remove_categories(&self, names: &[String]) -> Result<(), EngineError> {
        {
            let mut c = self.catalog_lock();
            for n in names {
                c.categories.remove(n.trim());
            }
            self.save_catalog(&c)?;
        }
        for s in pollster::block_on(self.all_stats_async())? {
            if names.iter().any(|n| n.trim() == s.settings.category)
                && let Err(e) = self.set_torrent_category(s.info_hash, "")
            {
                tracing::warn!(info_hash = %s.info_hash, error = %e,
                    "category removed, but its torrent could not go to the default root: it stays where it is");
            }
        }
        Ok(())
    }

    /// Adds tags to the list clients see (torrents need not hold them).
    pub fn create_tags(&self, tags: &[String]) -> Result<(), CatalogError> {
        let tags = clean_tags(tags)?;
        let mut c = self.catalog_lock();
        let before = c.tags.len();
        c.tags.extend(tags);
        if c.tags.len() > MAX_TAGS {
            let extra: Vec<String> = c.tags.iter().skip(MAX_TAGS).cloned().collect();
            for t in extra {
                c.tags.remove(&t);
            }
            self.save_catalog(&c)?;
            return Err(CatalogError::Invalid(format!("at most {MAX_TAGS} tags")));
        }
        if c.tags.len() != before {
            self.save_catalog(&c)?;
        }
        Ok(())
    }

    /// Deletes tags: from the list and from every torrent holding them.
    pub async fn delete_tags_async(&self, tags: &[String]) -> Result<(), EngineError> {
        let tags: BTreeSet<String> = tags.iter().map(|t| t.trim().to_owned()).collect();
        {
            let mut c = self.catalog_lock();
            c.tags.retain(|t| !tags.contains(t));
            self.save_catalog(&c)?;
        }
        for s in self.all_stats_async().await? {
            if s.settings.labels.iter().any(|l| tags.contains(l)) {
                let keep = s.settings.labels.into_iter();
                let keep = keep.filter(|l| !tags.contains(l)).collect();
                self.set_labels_async(s.info_hash, keep).await?;
            }
        }
        Ok(())
    }

    /// Before an add: a torrent given a root is placed by hand; one that
    /// follows its category goes to the category's save path (an unknown
    /// category is created, without a save path, as qBittorrent does); the
    /// torrent's tags go in the list.
    pub(super) fn file_new_torrent(&self, add: &mut AddTorrent) -> Result<(), EngineError> {
        let name = clean_category(&add.settings.category)?;
        if add.resume.is_none() && !add.root.is_empty() {
            add.settings.manual = true;
        }
        if !name.is_empty() {
            match self.create_category(&name, "") {
                Ok(()) | Err(CatalogError::Exists(_)) => {}
                Err(e) => return Err(e.into()),
            }
            if add.root.is_empty() && !add.settings.manual {
                add.root = self.category_root(&name)?.into();
            }
        }
        add.settings.category = name;
        self.create_tags(&add.settings.labels)?;
        Ok(())
    }
}

impl From<CatalogError> for CommandError {
    fn from(e: CatalogError) -> Self {
        CommandError::BadArgument(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_round_trips() {
        let mut c = Catalog::default();
        c.categories.insert("tv".into(), "/data/tv".into());
        c.categories.insert("tv/hd".into(), String::new());
        c.tags.insert("a b".into());
        assert_eq!(Catalog::decode(&c.encode()).unwrap(), c);
        assert!(matches!(
            Catalog::decode(b"d1:ci3ee"),
            Err(CatalogError::Store(_))
        ));
    }

    #[test]
    fn paths_are_normalised_or_refused() {
        assert_eq!(
            normal(Path::new("/a/./b/../c")),
            Some(PathBuf::from("/a/c"))
        );
        assert_eq!(normal(Path::new("/..")), None);
        assert_eq!(normal(Path::new("a/b")), None);
    }

    #[test]
    fn category_names_follow_qbittorrents_rule() {
        assert!(category_name("tv/hd").is_ok());
        for bad in ["", "/tv", "tv/", "tv//hd", "a\nb"] {
            assert!(category_name(bad).is_err(), "{bad:?}");
        }
    }
}
