//! Tests that must not reach the machine's own network run in a network
//! namespace of their own: the test starts itself again inside one (`unshare`;
//! an unprivileged user gets a user namespace too) after a shell `setup` (at
//! least `ip link set lo up`).
#![allow(dead_code)] // each test file uses its own part

/// Whether this process runs as root.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
    })
}

/// Whether this run is the one inside the namespace (`marker` is set).
pub fn inside(marker: &str) -> bool {
    std::env::var_os(marker).is_some()
}

/// Runs test `name` of this binary again inside a new network namespace after
/// `setup`, with `marker` set; asserts it passed and returns what it printed.
pub fn rerun(name: &str, marker: &str, setup: &str) -> String {
    rerun_in(name, marker, &["-n"], setup)
}

/// [`rerun`] with more namespaces: `flags` for `unshare` (`-n` for the
/// network, `-m` for mounts).
pub fn rerun_in(name: &str, marker: &str, flags: &[&str], setup: &str) -> String {
    let exe = std::env::current_exe().expect("the test binary");
    let mut ns: Vec<&str> = if is_root() { vec![] } else { vec!["-r"] };
    ns.extend_from_slice(flags);
    let script = format!("{setup} && exec \"$0\" \"$@\"");
    let out = std::process::Command::new("unshare")
        .args(&ns)
        .args(["--", "sh", "-c", &script])
        .arg(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(marker, "1")
        .output()
        .expect("unshare runs (util-linux)");
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "in its namespace: {text}");
    text
}
