//! `ganbench serve`: the web UI over a database (crates/serve), on loopback unless told otherwise.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::{bad_input, open_store};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ganbench serve                         http://127.0.0.1:8265: every sweep of ./ganbench.sqlite
  ganbench serve --db runs.sqlite --open  and open it in the browser
  ganbench serve --port 0                 a port the system chooses (printed)
  ganbench serve --bind 0.0.0.0           reachable from other machines (prints a warning)

It only reads the database, so it can run while `ganbench run` trains: the curves gain points
every 2 s and the report is regenerated as runs progress.")]
pub struct Args {
    /// The port to listen on (0: any free port).
    #[arg(long, default_value_t = 8265)]
    port: u16,
    /// The address to listen on. The default, loopback, keeps the UI on this machine; anything
    /// else lets every machine that can reach this one read the database.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST), value_name = "ADDR")]
    bind: IpAddr,
    /// Open the UI in the browser once it listens.
    #[arg(long)]
    open: bool,
}

pub fn run(db: &Path, args: Args) -> Result<ExitCode> {
    // Refuse a missing or foreign database now, not on the first page load.
    drop(open_store(db)?);
    if !args.bind.is_loopback() {
        eprintln!(
            "warning: listening on {}, not loopback: anyone who can reach this machine can read \
             every sweep, run and parameter in {} (there is no login)",
            args.bind,
            db.display()
        );
    }
    let cache_dir = std::env::temp_dir().join(format!("ganbench-serve-{}", std::process::id()));
    let options = ganbench_serve::Options {
        db: db.to_path_buf(),
        addr: SocketAddr::new(args.bind, args.port),
        cache_dir,
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let open = args.open;
    ganbench_serve::serve(options, |addr| {
        let url = format!("http://{addr}/");
        eprintln!("ganbench serve: listening on {url} (Ctrl-C stops it)");
        if open {
            super::open::in_browser(&url);
        }
    })
    .map_err(bad_input)?;
    Ok(ExitCode::SUCCESS)
}
