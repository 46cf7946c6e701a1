//! Small helpers about this machine's processes, for orphan detection.

/// This machine's host name (Linux: the kernel's; else `$HOSTNAME`; else "localhost").
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Whether a process with this id exists on this machine (and is not a zombie).
///
/// On Linux this reads `/proc`. Elsewhere it cannot tell and answers `true`, so that a live run
/// is never marked interrupted (orphans then stay `running` until marked by hand).
/// A pid reused by an unrelated process also answers `true`; that errs on the same safe side.
pub fn pid_is_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state letter follows the ")" that ends the command name.
            Ok(stat) => !matches!(
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().next()),
                Some("Z") | Some("X")
            ),
            Err(_) => false,
        }
    } else {
        true
    }
}
