//! The `ganbench` command line: a thin binary over the runner and the plugin registry.

mod commands;
mod registry;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  ganbench plugins                                   list built-in plugins and their parameters
  ganbench plugins --plugin-dir target/release       also list dynamic plugins built there
  ganbench train --plugin wgan-gp --data ring8 --steps 2000 --seed 1
  ganbench train --plugin gan --data grid25 --set loss=minimax --set lr_d=1e-4 --json
  ganbench train --plugin-dir target/release --plugin lsgan --data ring8";

/// Train GAN and VAE variants side by side and find out which stability fix works on your data.
#[derive(Parser, Debug)]
#[command(name = "ganbench", version, after_help = EXAMPLES)]
struct Cli {
    /// Also load dynamic plugins from this directory (or library file); repeatable.
    /// GANBENCH_PLUGIN_PATH (a ':'-separated list) is searched too.
    #[arg(long, global = true, value_name = "DIR")]
    plugin_dir: Vec<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the available plugins (built-in and dynamic) with their parameters.
    Plugins(commands::plugins::Args),
    /// Train one run of a plugin on a dataset and print its metrics.
    Train(commands::train::Args),
}

fn main() -> ExitCode {
    // WGAN-GP's double backward needs this before the first backward() on any thread (design.md).
    // Set it first thing, while the process is still single-threaded.
    std::env::set_var("CANDLE_GRAD_DO_NOT_DETACH", "1");

    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plugins(args) => commands::plugins::run(&cli.plugin_dir, args),
        Command::Train(args) => commands::train::run(&cli.plugin_dir, args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(commands::exit_code(&err))
        }
    }
}
