//! `ganbench completions SHELL`: a shell completion script, generated from the argument
//! definitions, so it never lags behind them.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap_complete::Shell;

const EXAMPLES: &str = "\
Examples:
  ganbench completions bash > ~/.local/share/bash-completion/completions/ganbench
  ganbench completions zsh > ~/.zfunc/_ganbench      (with fpath+=~/.zfunc before compinit)
  ganbench completions fish > ~/.config/fish/completions/ganbench.fish";

#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The shell to complete in.
    #[arg(value_enum)]
    shell: Shell,
}

/// Writes the completion script of `cli` (the whole command line) for the chosen shell to stdout.
pub fn run(mut cli: clap::Command, args: Args) -> Result<ExitCode> {
    let name = cli.get_name().to_string();
    // Rendered first, then written: a closed stdout is then an error to return, not a panic.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cli, name, &mut script);
    std::io::stdout().write_all(&script)?;
    Ok(ExitCode::SUCCESS)
}
