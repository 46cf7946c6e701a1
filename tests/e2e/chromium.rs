//! A minimal Chrome DevTools Protocol client over `--remote-debugging-pipe` (file descriptors 3
//! and 4, NUL-separated JSON messages): enough to load a page, collect its events and take a
//! screenshot, without a WebSocket library.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::FromRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(60);

/// The first Chromium on PATH.
pub fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome-stable",
        "google-chrome",
    ] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// What went wrong while pages loaded: failed requests and HTTP error statuses, script
/// exceptions, console and log errors, and requests to anything but local files, data URIs and
/// this machine's loopback (`ganbench serve`).
pub fn problems(events: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for e in events {
        let params = &e["params"];
        match e["method"].as_str().unwrap_or("") {
            "Network.loadingFailed" => out.push(format!("failed request: {params}")),
            "Runtime.exceptionThrown" => out.push(format!("script error: {params}")),
            "Runtime.consoleAPICalled" if params["type"] == "error" => {
                out.push(format!("console error: {params}"))
            }
            "Log.entryAdded" if params["entry"]["level"] == "error" => {
                out.push(format!("logged error: {params}"))
            }
            "Network.responseReceived" if params["response"]["status"].as_u64() >= Some(400) => {
                out.push(format!("HTTP error: {}", params["response"]))
            }
            "Network.requestWillBeSent" => {
                let url = params["request"]["url"].as_str().unwrap_or("");
                if !(url.starts_with("file://")
                    || url.starts_with("data:")
                    || url.starts_with("http://127.0.0.1:"))
                {
                    out.push(format!("request off the machine: {url}"));
                }
            }
            _ => {}
        }
    }
    out
}

pub struct Browser {
    child: Child,
    to_browser: File,
    from_browser: Receiver<Value>,
    next_id: u64,
    events: Vec<Value>,
}

fn pipe() -> (i32, i32) {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes exactly two ints through the pointer, and `fds` is a live,
    // writable `[i32; 2]`.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2 failed");
    (fds[0], fds[1])
}

impl Browser {
    pub fn launch(exe: &Path, profile: &Path) -> Browser {
        let (cmd_read, cmd_write) = pipe(); // we write commands, Chromium reads fd 3
        let (ev_read, ev_write) = pipe(); // Chromium writes fd 4, we read
        let mut command = Command::new(exe);
        command
            .args([
                "--headless=new",
                "--remote-debugging-pipe",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                // A phone's viewport: the page must fit its width (wide tables scroll
                // inside their own box).
                "--window-size=390,844",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: the closure runs in the forked child before exec, so it may make only
        // async-signal-safe calls: fcntl and dup2 on descriptors that pipe() opened and that
        // are still open (the parent closes its copies only after spawn), and it allocates
        // nothing but the error that ends the child.
        unsafe {
            command.pre_exec(move || {
                // Move both ends above 3 and 4 first, so that neither dup2 clobbers the other.
                let r = libc::fcntl(cmd_read, libc::F_DUPFD, 10);
                let w = libc::fcntl(ev_write, libc::F_DUPFD, 10);
                if r < 0 || w < 0 || libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("chromium starts");
        // SAFETY: the four descriptors came from pipe2 above, are open, and nothing else owns
        // them: the child has its own copies (as 3 and 4), so we close our copies of its ends
        // once, and each `File` takes sole ownership of one of our ends (closed on drop).
        let (to_browser, from_browser) = unsafe {
            libc::close(cmd_read);
            libc::close(ev_write);
            (File::from_raw_fd(cmd_write), File::from_raw_fd(ev_read))
        };
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(from_browser);
            let mut buf = Vec::new();
            while reader.read_until(0, &mut buf).is_ok_and(|n| n > 0) {
                if buf.last() == Some(&0) {
                    buf.pop();
                }
                if let Ok(v) = serde_json::from_slice::<Value>(&buf) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
                buf.clear();
            }
        });
        Browser {
            child,
            to_browser,
            from_browser: rx,
            next_id: 1,
            events: Vec::new(),
        }
    }

    fn next(&mut self) -> Value {
        self.from_browser
            .recv_timeout(TIMEOUT)
            .expect("chromium answers within a minute")
    }

    /// Sends a command and returns its result; events that arrive meanwhile are kept.
    pub fn call(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.to_browser
            .write_all(&bytes)
            .expect("write to chromium");
        loop {
            let v = self.next();
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method} failed: {v}");
                return v["result"].clone();
            }
            self.events.push(v);
        }
    }

    /// A new tab, attached, with the page, runtime, network and log domains enabled.
    pub fn open_page(&mut self) -> String {
        // The tab Chromium opened at start: it has the window size of the command line.
        let targets = self.call("Target.getTargets", json!({}), None);
        let target = targets["targetInfos"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .cloned()
            .expect("chromium opened a tab");
        let attached = self.call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
            None,
        );
        let session = attached["sessionId"].as_str().unwrap().to_string();
        for domain in ["Page", "Runtime", "Network", "Log"] {
            self.call(&format!("{domain}.enable"), json!({}), Some(&session));
        }
        session
    }

    /// Events received so far.
    pub fn events(&self) -> &[Value] {
        &self.events
    }

    /// Waits for event `method` of `session`, counting only events from index `from` on.
    pub fn wait_for_event(&mut self, method: &str, session: &str, from: usize) {
        let seen = |e: &Value| e["method"] == method && e["sessionId"] == session;
        if self.events[from.min(self.events.len())..].iter().any(seen) {
            return;
        }
        loop {
            let v = self.next();
            let done = v["method"] == method && v["sessionId"] == session;
            self.events.push(v);
            if done {
                return;
            }
        }
    }

    /// Closes the browser; returns every event received.
    pub fn close(mut self) -> Vec<Value> {
        let id = self.next_id;
        let bytes = [
            serde_json::to_vec(&json!({"id": id, "method": "Browser.close"})).unwrap(),
            vec![0],
        ]
        .concat();
        let _ = self.to_browser.write_all(&bytes);
        // Drain what is left, then make sure the process is gone.
        while let Ok(v) = self.from_browser.recv_timeout(Duration::from_secs(5)) {
            if v["id"] == json!(id) {
                break;
            }
            self.events.push(v);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::take(&mut self.events)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
