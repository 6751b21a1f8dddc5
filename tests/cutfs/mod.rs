//! A FUSE filesystem (through the `fuser` crate) that loses what a power cut
//! loses: every file keeps the bytes made durable by `fsync`/`fdatasync` apart
//! from what was written since, and [`CutFs::cut`] throws the unsynced writes
//! away, or tears them (a random part of them reaches the "disk"). Folders,
//! names and sizes are journaled: they survive a cut as they were.
//!
//! The state lives in the test process ([`CutFs`], shared); a mount is a
//! [`Mounted`] session over it, unmounted on drop, so a cut is: kill the
//! program, drop the mount (its page cache goes with it), [`CutFs::cut`],
//! mount again.

#![allow(dead_code)] // each test file uses its own part

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    LockOwner, MountOption, OpenFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

/// Attributes are never cached by the kernel: sizes change under it at a cut.
const TTL: Duration = Duration::ZERO;

#[derive(Default)]
struct Node {
    dir: bool,
    children: BTreeMap<OsString, u64>,
    /// What the process sees.
    live: Vec<u8>,
    /// What survives a cut.
    durable: Vec<u8>,
    /// Ranges written since the last sync, in order.
    unsynced: Vec<(usize, usize)>,
    mtime: Option<SystemTime>,
}

#[derive(Default)]
struct State {
    nodes: BTreeMap<u64, Node>,
    next: u64,
    /// Writes made durable by a sync, and unsynced writes lost at cuts (the
    /// test reports them).
    synced_writes: u64,
    lost_writes: u64,
    /// The next lookup of this name is answered this much later, from
    /// another thread (the requests after it are served meanwhile).
    delayed_lookup: Option<(OsString, Duration)>,
    /// The next rename is carried out and answered this much later, from
    /// another thread.
    delayed_rename: Option<Duration>,
}

/// The filesystem's state, shared by its mounts and the test.
#[derive(Clone)]
pub struct CutFs(Arc<Mutex<State>>);

/// A mount of a [`CutFs`]; unmounted when dropped.
pub struct Mounted(#[allow(dead_code)] fuser::BackgroundSession);

impl CutFs {
    /// An empty filesystem.
    pub fn new() -> CutFs {
        let mut s = State {
            next: 2,
            ..State::default()
        };
        s.nodes.insert(
            1,
            Node {
                dir: true,
                ..Node::default()
            },
        );
        CutFs(Arc::new(Mutex::new(s)))
    }

    /// Mounts it at `at` (an empty folder).
    pub fn mount(&self, at: &Path) -> Mounted {
        let mut cfg = Config::default();
        cfg.mount_options = vec![
            MountOption::FSName("cutfs".into()),
            MountOption::DefaultPermissions,
        ];
        cfg.acl = fuser::SessionACL::All;
        let session = fuser::spawn_mount(self.clone(), at, &cfg).unwrap_or_else(|e| {
            panic!(
                "cannot mount the power-cut filesystem at {}: {e}",
                at.display()
            )
        });
        Mounted(session)
    }

    /// A power cut: what was not synced is lost, except, with `tear`, a random
    /// part of it (`pick` says, per unsynced write, whether it reached the disk).
    /// Returns (writes kept, writes lost).
    pub fn cut(&self, mut pick: impl FnMut() -> bool) -> (u64, u64) {
        let mut s = self.0.lock().unwrap();
        let (mut kept, mut lost) = (0, 0);
        for n in s.nodes.values_mut().filter(|n| !n.dir) {
            let len = n.live.len();
            let mut disk = std::mem::take(&mut n.durable);
            disk.resize(len, 0);
            for (off, l) in std::mem::take(&mut n.unsynced) {
                let end = (off + l).min(len);
                if off < end && pick() {
                    disk[off..end].copy_from_slice(&n.live[off..end]);
                    kept += 1;
                } else {
                    lost += 1;
                }
            }
            n.live = disk.clone();
            n.durable = disk;
        }
        s.lost_writes += lost;
        (kept, lost)
    }

    /// Answers the next lookup of `name` (in any folder) `d` later, as a
    /// slow disk would, while the requests after it are served: whoever made
    /// it is held back, the others go on.
    pub fn delay_next_lookup(&self, name: &str, d: Duration) {
        self.0.lock().unwrap().delayed_lookup = Some((name.into(), d));
    }

    /// Carries out and answers the next rename `d` later, as a slow disk
    /// would, while the requests after it are served.
    pub fn delay_next_rename(&self, d: Duration) {
        self.0.lock().unwrap().delayed_rename = Some(d);
    }

    /// Writes made durable by a sync so far.
    pub fn synced_writes(&self) -> u64 {
        self.0.lock().unwrap().synced_writes
    }
}

fn attr(ino: u64, n: &Node) -> FileAttr {
    let t = n.mtime.unwrap_or(UNIX_EPOCH);
    FileAttr {
        ino: INodeNo(ino),
        size: n.live.len() as u64,
        blocks: (n.live.len() as u64).div_ceil(512),
        atime: t,
        mtime: t,
        ctime: t,
        crtime: t,
        kind: if n.dir {
            FileType::Directory
        } else {
            FileType::RegularFile
        },
        perm: if n.dir { 0o755 } else { 0o644 },
        nlink: if n.dir { 2 } else { 1 },
        uid: 0,
        gid: 0,
        rdev: 0,
        flags: 0,
        blksize: 4096,
    }
}

impl CutFs {
    fn make(&self, parent: INodeNo, name: &OsStr, dir: bool) -> Result<FileAttr, Errno> {
        let mut s = self.0.lock().unwrap();
        let ino = s.next;
        let p = s.nodes.get_mut(&parent.0).ok_or(Errno::ENOENT)?;
        if !p.dir {
            return Err(Errno::ENOTDIR);
        }
        if p.children.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        p.children.insert(name.to_owned(), ino);
        s.next += 1;
        let n = Node {
            dir,
            mtime: Some(SystemTime::now()),
            ..Node::default()
        };
        let a = attr(ino, &n);
        s.nodes.insert(ino, n);
        Ok(a)
    }
}

impl CutFs {
    fn do_rename(
        &self,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
    ) -> Result<(), Errno> {
        let mut s = self.0.lock().unwrap();
        let ino = s
            .nodes
            .get_mut(&parent.0)
            .and_then(|p| p.children.remove(name))
            .ok_or(Errno::ENOENT)?;
        let old = s
            .nodes
            .get_mut(&newparent.0)
            .ok_or(Errno::ENOENT)?
            .children
            .insert(newname.to_owned(), ino);
        if let Some(old) = old {
            s.nodes.remove(&old);
        }
        Ok(())
    }

    fn answer_lookup(&self, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let s = self.0.lock().unwrap();
        match s.nodes.get(&parent.0).and_then(|p| p.children.get(name)) {
            Some(&ino) => reply.entry(&TTL, &attr(ino, &s.nodes[&ino]), Generation(0)),
            None => reply.error(Errno::ENOENT),
        }
    }
}

impl Filesystem for CutFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let delayed = self
            .0
            .lock()
            .unwrap()
            .delayed_lookup
            .take_if(|(n, _)| n == name);
        match delayed {
            Some((name, d)) => {
                let fs = self.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(d);
                    fs.answer_lookup(parent, &name, reply);
                });
            }
            None => self.answer_lookup(parent, name, reply),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let s = self.0.lock().unwrap();
        match s.nodes.get(&ino.0) {
            Some(n) => reply.attr(&TTL, &attr(ino.0, n)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut s = self.0.lock().unwrap();
        let Some(n) = s.nodes.get_mut(&ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        if let Some(len) = size {
            // A size is metadata: journaled, it survives a cut.
            let len = usize::try_from(len).unwrap();
            n.live.resize(len, 0);
            n.durable.resize(len, 0);
        }
        match mtime {
            Some(TimeOrNow::SpecificTime(t)) => n.mtime = Some(t),
            Some(TimeOrNow::Now) => n.mtime = Some(SystemTime::now()),
            None => {}
        }
        reply.attr(&TTL, &attr(ino.0, n));
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        match self.make(parent, name, true) {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        match self.make(parent, name, false) {
            Ok(a) => reply.created(&TTL, &a, Generation(0), FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut s = self.0.lock().unwrap();
        let ino = s
            .nodes
            .get_mut(&parent.0)
            .and_then(|p| p.children.remove(name));
        match ino {
            Some(ino) => {
                s.nodes.remove(&ino);
                reply.ok();
            }
            None => reply.error(Errno::ENOENT),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut s = self.0.lock().unwrap();
        let Some(&ino) = s.nodes.get(&parent.0).and_then(|p| p.children.get(name)) else {
            return reply.error(Errno::ENOENT);
        };
        match s.nodes.get(&ino) {
            Some(n) if !n.dir => return reply.error(Errno::ENOTDIR),
            Some(n) if !n.children.is_empty() => return reply.error(Errno::ENOTEMPTY),
            _ => {}
        }
        s.nodes.remove(&ino);
        if let Some(p) = s.nodes.get_mut(&parent.0) {
            p.children.remove(name);
        }
        reply.ok();
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        _flags: fuser::RenameFlags,
        reply: ReplyEmpty,
    ) {
        let delayed = self.0.lock().unwrap().delayed_rename.take();
        let (fs, name, newname) = (self.clone(), name.to_owned(), newname.to_owned());
        let answer = move || match fs.do_rename(parent, &name, newparent, &newname) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        };
        match delayed {
            Some(d) => {
                std::thread::spawn(move || {
                    std::thread::sleep(d);
                    answer();
                });
            }
            None => answer(),
        }
    }

    fn open(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        reply.opened(FileHandle(0), FopenFlags::empty());
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let s = self.0.lock().unwrap();
        let Some(n) = s.nodes.get(&ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let start = usize::try_from(offset).unwrap().min(n.live.len());
        let end = (start + size as usize).min(n.live.len());
        reply.data(&n.live[start..end]);
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut s = self.0.lock().unwrap();
        let Some(n) = s.nodes.get_mut(&ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let off = usize::try_from(offset).unwrap();
        if n.live.len() < off + data.len() {
            n.live.resize(off + data.len(), 0);
        }
        n.live[off..off + data.len()].copy_from_slice(data);
        n.unsynced.push((off, data.len()));
        n.mtime = Some(SystemTime::now());
        reply.written(u32::try_from(data.len()).unwrap());
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut s = self.0.lock().unwrap();
        let Some(n) = s.nodes.get_mut(&ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        n.durable = n.live.clone();
        let synced = n.unsynced.len() as u64;
        n.unsynced.clear();
        s.synced_writes += synced;
        reply.ok();
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close() is not a sync.
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let s = self.0.lock().unwrap();
        let Some(d) = s.nodes.get(&ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let mut entries = vec![
            (ino.0, FileType::Directory, OsString::from(".")),
            (ino.0, FileType::Directory, OsString::from("..")),
        ];
        for (name, &child) in &d.children {
            let kind = if s.nodes[&child].dir {
                FileType::Directory
            } else {
                FileType::RegularFile
            };
            entries.push((child, kind, name.clone()));
        }
        for (i, (child, kind, name)) in entries
            .into_iter()
            .enumerate()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        {
            if reply.add(INodeNo(child), i as u64 + 1, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // 64 GiB, nearly all free.
        reply.statfs(
            16 << 20,
            15 << 20,
            15 << 20,
            1 << 20,
            1 << 20,
            4096,
            255,
            4096,
        );
    }
}
