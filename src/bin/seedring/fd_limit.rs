//! The open-files limit, raised at start from its soft value to its hard one.
//!
//! A shell's soft limit is often 1,024 while its hard limit is far higher (the
//! soft one is a default for programs that need few files; the hard one is the
//! administrator's bound). The daemon alone may want 500 peer connections, 512
//! API connections, its file cache and LMDB at once, and `create` or `verify`
//! may walk folders of many thousand files. The systemd unit in `deploy/`
//! sets both limits itself.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Never more than this, even under an unlimited hard limit: a limit of
/// billions only makes whatever sizes a table by it (a child's closing loop)
/// slow.
const CEILING: u64 = 1 << 20;

/// The soft limit raised to the hard one (at most [`CEILING`]). Returns the
/// soft limit before and after; a refusal leaves it as it was, with why.
pub fn raise() -> Result<(u64, u64), (u64, String)> {
    let lim = getrlimit(Resource::Nofile);
    let hard = lim.maximum.unwrap_or(u64::MAX).min(CEILING);
    let soft = lim.current.unwrap_or(u64::MAX);
    if soft >= hard {
        return Ok((soft, soft));
    }
    let new = Rlimit {
        current: Some(hard),
        maximum: lim.maximum,
    };
    match setrlimit(Resource::Nofile, new) {
        Ok(()) => Ok((soft, hard)),
        Err(e) => Err((soft, e.to_string())),
    }
}
