//! Probing a plugin library in a child process before this process loads it.
//!
//! Loading a library runs its initializers, and reading its declaration runs its code: a library
//! that segfaults, aborts or hangs there would take down (or freeze) `ganbench plugins`, and any
//! sweep, even one that does not use it. So the host first loads each library in a throw-away
//! child process (the binary re-invoked through a hidden subcommand, which loads the library and
//! declares its parameters, then exits). Only a library whose child exited normally is loaded
//! here; one whose child died from a signal, exited with an error status or hung past the
//! timeout is skipped with that reason. Ordinary refusals (another ABI version, no declaration)
//! are not crashes: such a library is loaded here and refused with its typed [`LoadError`].
//!
//! Verdicts are cached in a JSON file by (path, size, modification time, host build id, ABI
//! version), so a library is probed once until it is rebuilt.
//!
//! [`LoadError`]: crate::LoadError

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::abi::ABI_VERSION;

/// How long a probe may take unless the caller says otherwise: loading even a large plugin
/// (candle inside) takes well under a second.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// Builds the command that probes one library (the caller's binary and hidden subcommand).
pub type ProbeCommand = Box<dyn Fn(&Path) -> Command + Send + Sync>;

/// Probes libraries in child processes and remembers the verdicts.
pub struct Prober {
    command: ProbeCommand,
    cache: Option<PathBuf>,
    timeout: Duration,
    build_id: String,
}

/// A cached verdict: `None` when the library loaded safely, else why it is skipped.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Verdict {
    unsafe_because: Option<String>,
}

impl Prober {
    /// `command(path)` starts a process that loads `path` and reads its declaration, then exits
    /// with status 0 (also when it refuses the library). Verdicts are cached in `cache` (a JSON
    /// file; `None`: no cache) under keys that include `build_id`.
    pub fn new(
        command: ProbeCommand,
        cache: Option<PathBuf>,
        timeout: Duration,
        build_id: impl Into<String>,
    ) -> Self {
        Self {
            command,
            cache,
            timeout,
            build_id: build_id.into(),
        }
    }

    /// `Ok` when loading `path` in this process is safe; else why not (the signal, the exit
    /// status or the timeout, with the last lines the child wrote to stderr). A file that cannot
    /// be read is "safe": loading it here fails with the loader's own reason.
    pub fn check(&self, path: &Path) -> Result<(), String> {
        let Some(key) = self.key(path) else {
            return Ok(());
        };
        let mut cached = self.read_cache();
        if let Some(verdict) = cached.get(&key) {
            return verdict.unsafe_because.clone().map_or(Ok(()), Err);
        }
        let verdict = self.probe(path);
        cached.insert(
            key,
            Verdict {
                unsafe_because: verdict.clone().err(),
            },
        );
        self.write_cache(&cached);
        verdict
    }

    /// `path`, size, modification time (ns), this host's build id and ABI version.
    fn key(&self, path: &Path) -> Option<String> {
        let meta = std::fs::metadata(path).ok()?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        Some(format!(
            "{}\t{}\t{modified}\t{}\t{ABI_VERSION}",
            path.display(),
            meta.len(),
            self.build_id
        ))
    }

    fn probe(&self, path: &Path) -> Result<(), String> {
        let mut child = match (self.command)(path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            // Nothing was learnt about the library; loading it here will say what is wrong.
            Err(_) => return Ok(()),
        };
        let mut stderr = child.stderr.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            let _ = tx.send(text);
        });
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if started.elapsed() < self.timeout => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        // A grandchild may hold the pipe open after the child is gone: wait for its text briefly.
        let said = last_lines(
            &rx.recv_timeout(Duration::from_secs(1)).unwrap_or_default(),
            3,
        );
        match status {
            Some(status) if status.success() => Ok(()),
            Some(status) => Err(format!(
                "{} while loading or declaring its parameters{said}",
                describe_exit(status)
            )),
            None => Err(format!(
                "did not finish loading and declaring its parameters within {} s (it hangs \
                 there){said}",
                self.timeout.as_secs_f64()
            )),
        }
    }

    fn read_cache(&self) -> BTreeMap<String, Verdict> {
        self.cache
            .as_ref()
            .and_then(|file| std::fs::read(file).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Writes the cache beside itself, then renames it into place, so that a reader never sees
    /// half a file. Failing to write only costs a probe next time.
    fn write_cache(&self, verdicts: &BTreeMap<String, Verdict>) {
        let Some(file) = &self.cache else { return };
        let Ok(json) = serde_json::to_vec_pretty(verdicts) else {
            return;
        };
        if let Some(dir) = file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let mut tmp = file.as_os_str().to_owned();
        tmp.push(format!(".tmp-{}", std::process::id()));
        if std::fs::write(&tmp, json).is_ok() && std::fs::rename(&tmp, file).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

/// `was killed by SIGSEGV (signal 11)`, `exited with status 3`: how a child process ended.
pub fn describe_exit(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.signal(), status.code()) {
        (Some(signal), _) => format!("was killed by {}", signal_name(signal)),
        (None, Some(code)) => format!("exited with status {code}"),
        (None, None) => format!("ended ({status})"),
    }
}

/// `SIGKILL (signal 9)`: the name of the usual signals, the number alone for others.
pub fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => return format!("signal {signal}"),
    };
    format!("{name} (signal {signal})")
}

/// `; it said: "…"` with the last `n` non-empty lines of `text`, or nothing.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let tail = lines[lines.len().saturating_sub(n)..].join(" / ");
    // Plugin output: keep it short and free of terminal escape sequences.
    let tail: String = tail
        .chars()
        .take(500)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("; it said: {tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &'static str) -> ProbeCommand {
        Box::new(move |path: &Path| {
            let mut cmd = Command::new("sh");
            cmd.arg("-c").arg(script).arg("probe").arg(path);
            cmd
        })
    }

    #[test]
    fn crashes_hangs_and_exits_are_named_and_cached() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("libx.so");
        std::fs::write(&lib, b"not really a library").unwrap();
        let cache = dir.path().join("cache/probes.json");
        let counter = dir.path().join("probes");
        let counted = |script: &str| -> ProbeCommand {
            let script = format!("echo x >> '{}'; {script}", counter.display());
            Box::new(move |path: &Path| {
                let mut cmd = Command::new("sh");
                cmd.arg("-c").arg(&script).arg("probe").arg(path);
                cmd
            })
        };
        let segv = Prober::new(
            counted("echo 'declaring…' >&2; kill -SEGV $$"),
            Some(cache.clone()),
            Duration::from_secs(20),
            "b1",
        );
        let reason = segv.check(&lib).unwrap_err();
        assert!(
            reason.contains("was killed by SIGSEGV (signal 11) while loading")
                && reason.contains("declaring…"),
            "{reason}"
        );
        // Cached: asked again, the verdict comes without a second child.
        assert_eq!(segv.check(&lib).unwrap_err(), reason);
        let probes = || std::fs::read_to_string(&counter).unwrap().lines().count();
        assert_eq!(probes(), 1);
        // Another build of the host probes again; so does a changed library.
        let other_build = Prober::new(
            counted("exit 0"),
            Some(cache.clone()),
            Duration::from_secs(20),
            "b2",
        );
        other_build.check(&lib).unwrap();
        assert_eq!(probes(), 2);
        std::fs::write(&lib, b"rebuilt, and longer than before").unwrap();
        let rebuilt = Prober::new(
            counted("exit 0"),
            Some(cache),
            Duration::from_secs(20),
            "b1",
        );
        rebuilt.check(&lib).unwrap();
        assert_eq!(probes(), 3);

        let hangs = Prober::new(
            shell("exec sleep 30"),
            None,
            Duration::from_millis(300),
            "b",
        );
        let started = Instant::now();
        let reason = hangs.check(&lib).unwrap_err();
        assert!(reason.contains("within 0.3 s"), "{reason}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the hung child is killed"
        );
        let exits = Prober::new(shell("exit 3"), None, Duration::from_secs(20), "b");
        assert!(exits
            .check(&lib)
            .unwrap_err()
            .contains("exited with status 3"));
    }

    #[test]
    fn signals_are_named() {
        assert_eq!(signal_name(libc::SIGKILL), "SIGKILL (signal 9)");
        assert_eq!(signal_name(libc::SIGSEGV), "SIGSEGV (signal 11)");
        assert_eq!(signal_name(63), "signal 63");
    }
}
