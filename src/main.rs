//! The `ganbench` command line: a thin binary over the runner and the plugin registry.

/// `println!` that returns the write error instead of panicking, for `outln!(…)?`: a closed
/// stdout (`ganbench ls | head`) then ends the command quietly (see `main`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// `print!` that returns the write error instead of panicking (see `outln!`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)
    }};
}

mod commands;
mod extractor;
mod registry;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  ganbench run experiments/quickstart.ron            run a sweep (resumes where it stopped)
  ganbench run experiments/quickstart.ron --jobs 2   two trials at a time
  ganbench run experiments/lr-search.ron --confirm-best 1   retrain the best configuration on fresh seeds
  ganbench ls                                        sweeps in ./ganbench.sqlite
  ganbench ls quickstart                             the runs of one sweep
  ganbench show 3 --json                             one run: parameters, final metrics, events
  ganbench ls --where 'lr_d < 3e-4 and status = finished' --sort modes --desc
  ganbench serve --open                              web UI: live curves, runs table, reports
  ganbench tag 3 good                                tags and notes on runs and sweeps
  ganbench note quickstart 'baseline for the SN ablation'
  ganbench rm lr-search@2                            delete a sweep version and its files
  ganbench export quickstart --format csv --out quickstart.csv
  ganbench export lr-search --wide --out runs.csv    one row per run: parameters, final metrics
  ganbench report quickstart                         figures + HTML page in reports/quickstart/
  ganbench open quickstart                           that page, in the browser
  ganbench compare quickstart lr-search --json       one report over two sweeps, table as JSON
  ganbench metrics --real real.npy --fake fake.npy   FID, KID, precision/recall, density/coverage
  ganbench doctor                                    features, GPUs and CUDA libraries of this build
  ganbench plugins                                   list built-in plugins and their parameters
  ganbench plugins --plugin-dir target/release       also list dynamic plugins built there
  ganbench plugin new my-loss                        a new plugin crate in plugins/my-loss
  ganbench train --plugin wgan-gp --data ring8 --steps 2000 --seed 1
  ganbench train --plugin gan --data grid25 --set loss=minimax --set lr_d=1e-4 --json
  ganbench train --plugin-dir target/release --plugin lsgan --data ring8
  ganbench completions bash > ~/.local/share/bash-completion/completions/ganbench
  ganbench man --out ~/.local/share/man/man1         man pages: `man ganbench-run`";

/// Train GAN and VAE variants side by side and find out which stability fix works on your data.
#[derive(Parser, Debug)]
#[command(name = "ganbench", version, after_help = EXAMPLES)]
struct Cli {
    /// Also load dynamic plugins from this directory (or library file); repeatable.
    /// GANBENCH_PLUGIN_PATH (a ':'-separated list) is searched too.
    #[arg(long, global = true, value_name = "DIR")]
    plugin_dir: Vec<PathBuf>,

    /// CPU threads per training process. Small models train as fast on one thread, and candle's
    /// pool spins while it waits, so several single-threaded trials (`run --jobs`) beat one wide one.
    #[arg(
        long,
        global = true,
        env = "GANBENCH_THREADS",
        default_value_t = 1,
        value_name = "N"
    )]
    threads: usize,

    /// The SQLite database of sweeps and runs.
    #[arg(
        long,
        global = true,
        env = "GANBENCH_DB",
        default_value = "ganbench.sqlite",
        value_name = "PATH"
    )]
    db: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the available plugins (built-in and dynamic) with their parameters.
    Plugins(commands::plugins::Args),
    /// Write a new plugin crate (`plugin new NAME`) that builds and loads as it is.
    Plugin(commands::plugin::Args),
    /// Run every trial of a sweep file, logging to the database; resumes an interrupted sweep.
    Run(commands::run::Args),
    /// Train one run of a plugin on a dataset and print its metrics (nothing is logged).
    Train(commands::train::Args),
    /// List the sweeps in the database, or runs: of one sweep, or filtered with --where.
    Ls(commands::ls::Args),
    /// Show one run: parameters, final metrics, events, error.
    Show(commands::show::Args),
    /// Serve a web UI over the database: live curves, runs table, reports (read-only).
    Serve(commands::serve::Args),
    /// Add, remove or list the tags of a run or a sweep (`ls --where 'tag = good'`).
    Tag(commands::tag::Args),
    /// Add or list notes on a run or a sweep (shown by `show` and the report).
    Note(commands::note::Args),
    /// Hide a sweep from `ganbench ls` without deleting anything (--undo: list it again).
    Archive(commands::archive::Args),
    /// Delete a sweep version with its runs, metrics and files (asks first).
    Rm(commands::rm::Args),
    /// Export a sweep's metric points as CSV or JSON lines.
    Export(commands::export::Args),
    /// Write figures and an HTML page comparing a sweep's variants (reports/SWEEP/index.html).
    Report(commands::report::Args),
    /// Write a report over chosen runs and sweeps (reports/compare/index.html).
    Compare(commands::compare::Args),
    /// FID, KID, precision/recall and density/coverage between two sample sets.
    Metrics(commands::metrics::Args),
    /// What this build can train on: features, build id, GPUs and CUDA libraries.
    Doctor(commands::doctor::Args),
    /// Open a sweep's report (reports/SWEEP/index.html) in the browser, or print its path.
    Open(commands::open::Args),
    /// Bring the databases of a sweep's array tasks (shards) into this database; idempotent.
    Merge(commands::merge::Args),
    /// Run a sweep on a Slurm cluster as a job array: submit, status, resubmit.
    Slurm(commands::slurm::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(commands::completions::Args),
    /// Print the man page, or write every page (one per subcommand) into a directory.
    Man(commands::man::Args),
    /// Train one trial for a parent `ganbench run` (internal).
    #[command(hide = true)]
    Worker(commands::worker::Args),
    /// Load one plugin library and exit, for a parent that probes it (internal).
    #[command(hide = true, name = registry::PROBE_COMMAND)]
    ProbePlugin {
        /// The library file.
        library: PathBuf,
    },
}

fn main() -> ExitCode {
    // WGAN-GP's double backward needs this before the first backward() on any thread (design.md).
    // Set it first thing, while the process is still single-threaded.
    std::env::set_var("CANDLE_GRAD_DO_NOT_DETACH", "1");

    let cli = Cli::parse();
    // candle sizes its thread pools from these when it first computes; workers inherit them.
    let threads = cli.threads.max(1).to_string();
    std::env::set_var("CANDLE_NUM_THREADS", &threads);
    std::env::set_var("RAYON_NUM_THREADS", &threads);
    let result = match cli.command {
        Command::Plugins(args) => commands::plugins::run(&cli.plugin_dir, args),
        Command::Plugin(args) => commands::plugin::run(args),
        Command::Run(args) => commands::run::run(&cli.plugin_dir, &cli.db, args),
        Command::Train(args) => commands::train::run(&cli.plugin_dir, &cli.db, args),
        Command::Ls(args) => commands::ls::run(&cli.db, args),
        Command::Show(args) => commands::show::run(&cli.db, args),
        Command::Serve(args) => commands::serve::run(&cli.db, args),
        Command::Tag(args) => commands::tag::run(&cli.db, args),
        Command::Note(args) => commands::note::run(&cli.db, args),
        Command::Archive(args) => commands::archive::run(&cli.db, args),
        Command::Rm(args) => commands::rm::run(&cli.db, args),
        Command::Export(args) => commands::export::run(&cli.db, args),
        Command::Report(args) => commands::report::run(&cli.db, args),
        Command::Compare(args) => commands::compare::run(&cli.db, args),
        Command::Metrics(args) => commands::metrics::run(args),
        Command::Doctor(args) => commands::doctor::run(cli.threads.max(1), args),
        Command::Open(args) => commands::open::run(&cli.db, args),
        Command::Completions(args) => commands::completions::run(Cli::command(), args),
        Command::Man(args) => commands::man::run(Cli::command(), args),
        Command::Merge(args) => commands::merge::run(&cli.db, args),
        Command::Slurm(args) => commands::slurm::run(&cli.plugin_dir, &cli.db, args),
        Command::Worker(args) => commands::worker::run(&cli.plugin_dir, args),
        Command::ProbePlugin { library } => registry::probe(&library),
    };
    match result {
        Ok(code) => code,
        // The reader went away (`| head`): nothing more to say, as ripgrep and friends do.
        Err(err) if commands::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", commands::error_text(&err));
            ExitCode::from(commands::exit_code(&err))
        }
    }
}
