//! `ganbench man`: manual pages (roff), generated from the argument definitions.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

const EXAMPLES: &str = "\
Examples:
  ganbench man | man -l -                       read the main page now
  ganbench man --out ~/.local/share/man/man1    install every page: `man ganbench-run` works after";

#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Write ganbench.1 and one page per subcommand (ganbench-run.1, …) into this directory
    /// (created if missing) instead of printing the main page.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Prints the main page of `cli`, or writes every page into `--out`.
pub fn run(cli: clap::Command, args: Args) -> Result<ExitCode> {
    match args.out {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cli)
                .render(&mut page)
                .context("rendering the man page")?;
            std::io::stdout()
                .write_all(&page)
                .context("writing the man page to stdout")?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(cli, &dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
            outln!("man pages written to {}", dir.display())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
