//! `ganbench open SWEEP`: opens a sweep's report in the browser (xdg-open, or `open` on macOS).

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{anyhow, Context, Result};

use super::{bad_input, find_sweep, open_store};

const EXAMPLES: &str = "\
Examples:
  ganbench open quickstart            the report of the newest version, in the browser
  ganbench open quickstart@1          version 1's report (`ganbench report quickstart@1` writes it)
  ganbench open quickstart --print    only print the page's path";

#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The sweep: NAME (its newest version) or NAME@VERSION.
    sweep: String,
    /// Print the report page's path instead of opening it.
    #[arg(long)]
    print: bool,
}

/// The program that opens a file in the desktop's default application.
const OPENER: &str = if cfg!(target_os = "macos") {
    "open"
} else {
    "xdg-open"
};

pub fn run(db: &Path, args: Args) -> Result<ExitCode> {
    let store = open_store(db)?;
    let sweep = find_sweep(&store, &args.sweep)?;
    let dir = super::report::default_dir(&store, &sweep)?;
    let index = dir.join("index.html");
    if !index.is_file() {
        return Err(bad_input(anyhow!(
            "no report at {}; write it with `ganbench report {}@{}` (a sweep run with `--out DIR` \
             has its report in DIR/index.html)",
            index.display(),
            sweep.name,
            sweep.version
        )));
    }
    // An absolute path, so that the printed line works from any directory and as a link.
    let index =
        std::path::absolute(&index).with_context(|| format!("resolving {}", index.display()))?;
    if args.print {
        outln!("{}", index.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    match open_with(OPENER, &index) {
        Ok(()) => outln!("opened {}", index.display())?,
        Err(why) => {
            eprintln!("{why}; open the page yourself:");
            outln!("{}", index.display())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens `target` (a file or a URL) in the browser, or says why not (`ganbench serve --open`).
pub fn in_browser(target: &str) {
    if let Err(why) = open_with(OPENER, Path::new(target)) {
        eprintln!("{why}; open {target} yourself");
    }
}

/// Runs `opener PAGE`; why it did not work otherwise.
fn open_with(opener: &str, page: &Path) -> Result<(), String> {
    let status = Command::new(opener)
        .arg(page)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{opener} failed ({s})")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("no {opener} on this system"))
        }
        Err(e) => Err(format!("could not run {opener}: {e}")),
    }
}
