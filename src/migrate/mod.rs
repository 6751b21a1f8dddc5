//! Moving torrents from another client: its saved state read into plans of
//! what to ask the daemon (`seedring remote import-qbittorrent`). Pure: bytes
//! in, plans out; the command reads the files and makes the requests.

pub mod qbittorrent;

pub use qbittorrent::{ImportError, Plan, plan};
