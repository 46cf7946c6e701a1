//! `ganbench plugin new NAME`: writes a plugin crate that builds and loads as it is.
//!
//! Inside a ganbench checkout the crate goes to `plugins/NAME`, a workspace member that inherits
//! the workspace's versions and lints; elsewhere (`--dir`) it is a standalone crate whose SDK
//! dependency points at the checkout. The files come from `plugin_template/`, and
//! `plugins/example` is the template's output, committed, built and trained by the tests.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use serde::Serialize;

use super::bad_input;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Write a new plugin crate: a GAN with a loss to edit, one parameter, and tests.
    #[command(after_help = "\
Examples:
  ganbench plugin new my-loss                 plugins/my-loss in this checkout (a workspace member)
  cargo build --release -p ganbench-my-loss
  ganbench train --plugin-dir target/release --plugin my-loss --set margin=0.5
  ganbench plugin new my-loss --dir ~/src      ~/src/my-loss, a standalone crate")]
    New(NewArgs),
}

#[derive(clap::Args, Debug)]
struct NewArgs {
    /// The plugin's name: lowercase letters, digits and '-', starting with a letter. The crate is
    /// `ganbench-NAME`, its folder `NAME`.
    name: String,
    /// Write the crate into DIR/NAME instead of this checkout's plugins/ folder.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// The SDK crate (`crates/sdk` of a ganbench checkout) for a crate outside the workspace
    /// [default: the checkout the current folder is in].
    #[arg(long, value_name = "PATH")]
    sdk: Option<PathBuf>,
    /// Overwrite the crate's files if the folder exists.
    #[arg(long)]
    force: bool,
    /// Print what was written as JSON.
    #[arg(long)]
    json: bool,
}

const LIB_TEMPLATE: &str = include_str!("plugin_template/lib.rs.in");
const MANIFEST_TEMPLATE: &str = include_str!("plugin_template/Cargo.toml.in");

#[derive(Serialize)]
struct Written {
    name: String,
    crate_name: String,
    dir: PathBuf,
    files: Vec<PathBuf>,
    /// Whether the crate is a member of the checkout's workspace.
    workspace_member: bool,
    test: String,
    build: String,
    train: String,
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::New(args) => new(args),
    }
}

fn new(args: NewArgs) -> Result<ExitCode> {
    check_name(&args.name).map_err(bad_input)?;
    let cwd = std::env::current_dir().context("reading the current folder")?;
    let checkout = find_checkout(&cwd);
    let parent = match (&args.dir, &checkout) {
        (Some(dir), _) => dir.clone(),
        (None, Some(root)) => root.join("plugins"),
        (None, None) => {
            return Err(bad_input(anyhow!(
                "{} is not inside a ganbench checkout: run this in one (the crate goes to \
                 plugins/{}), or pass --dir DIR for a standalone crate and --sdk PATH to the \
                 checkout's crates/sdk",
                cwd.display(),
                args.name
            )))
        }
    };
    let dir = parent.join(&args.name);
    if dir.exists() && !args.force {
        return Err(bad_input(anyhow!(
            "{} exists; pick another name, or pass --force to overwrite its Cargo.toml and src/lib.rs",
            dir.display()
        )));
    }
    let member = checkout
        .as_ref()
        .is_some_and(|root| same_dir(&parent, &root.join("plugins")));
    let (package, sdk, lints) = if member {
        (
            "version.workspace = true\nedition.workspace = true\nlicense.workspace = true\n\
             rust-version.workspace = true"
                .to_owned(),
            "ganbench-sdk.workspace = true".to_owned(),
            // The checkout's lints (unsafe code needs SAFETY notes), like every other member.
            "\n[lints]\nworkspace = true\n",
        )
    } else {
        let sdk = match (&args.sdk, &checkout) {
            (Some(sdk), _) => sdk.clone(),
            (None, Some(root)) => root.join("crates/sdk"),
            (None, None) => {
                return Err(bad_input(anyhow!(
                "a crate outside a ganbench checkout needs --sdk PATH, the checkout's crates/sdk"
            )))
            }
        };
        let sdk = sdk
            .canonicalize()
            .ok()
            .filter(|p| p.join("Cargo.toml").is_file())
            .ok_or_else(|| {
                bad_input(anyhow!(
                    "{} is not the SDK crate: pass --sdk with the path of crates/sdk in a ganbench \
                     checkout",
                    sdk.display()
                ))
            })?;
        (
            // Its own workspace, so that a parent folder's workspace does not claim it.
            "version = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[workspace]\n\n\
             # Build it with the compiler, profile and candle version of the ganbench that loads\n\
             # it: ganbench refuses a library whose build id differs."
                .to_string(),
            format!(
                "ganbench-sdk = {{ path = {:?} }}",
                sdk.display().to_string()
            ),
            // No workspace to inherit lints from.
            "",
        )
    };
    let files = [
        (
            dir.join("Cargo.toml"),
            fill(MANIFEST_TEMPLATE, &args.name)
                .replace("@PACKAGE@", &package)
                .replace("@SDK@", &sdk)
                .replace("@LINTS@", lints),
        ),
        (dir.join("src/lib.rs"), fill(LIB_TEMPLATE, &args.name)),
    ];
    std::fs::create_dir_all(dir.join("src"))
        .with_context(|| format!("creating {}", dir.display()))
        .map_err(bad_input)?;
    for (path, text) in &files {
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }

    let crate_name = format!("ganbench-{}", args.name);
    let (cargo_args, target) = if member {
        (format!("-p {crate_name}"), "target/release".to_owned())
    } else {
        (
            format!("--manifest-path {}", dir.join("Cargo.toml").display()),
            dir.join("target/release").display().to_string(),
        )
    };
    let written = Written {
        name: args.name.clone(),
        crate_name,
        dir: dir.clone(),
        files: files.iter().map(|(p, _)| p.clone()).collect(),
        workspace_member: member,
        test: format!("cargo test {cargo_args}"),
        build: format!("cargo build --release {cargo_args}"),
        train: format!(
            "ganbench train --plugin-dir {target} --plugin {} --set margin=0.5",
            args.name
        ),
    };
    if args.json {
        outln!("{}", serde_json::to_string(&written)?)?;
    } else {
        outln!("wrote {} (Cargo.toml, src/lib.rs)", dir.display())?;
        outln!("test:  {}", written.test)?;
        outln!("build: {}", written.build)?;
        outln!("train: {}", written.train)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A name that is a valid plugin name, folder and crate name: `my-loss2`.
fn check_name(name: &str) -> Result<()> {
    let ok = name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(anyhow!(
            "`{}` is not a plugin name: use at most 40 lowercase letters, digits and single '-' \
             between them, starting with a letter (e.g. `my-loss`)",
            name.escape_debug()
        ))
    }
}

/// The template with the plugin's name, crate name and type name filled in.
fn fill(template: &str, name: &str) -> String {
    let type_name: String = name
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    template
        .replace("@NAME@", name)
        .replace("@LIB@", &name.replace('-', "_"))
        .replace("@TYPE@", &type_name)
}

/// The ganbench checkout `dir` is in: the nearest folder above it whose Cargo.toml declares a
/// workspace and which holds `crates/sdk`.
fn find_checkout(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| {
            d.join("crates/sdk/Cargo.toml").is_file()
                && std::fs::read_to_string(d.join("Cargo.toml"))
                    .is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]"))
        })
        .map(Path::to_path_buf)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["a", "my-loss", "r1-gan2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "My",
            "1gan",
            "-gan",
            "gan-",
            "a--b",
            "a_b",
            "ä",
            &"a".repeat(41),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_template_is_filled_in_everywhere() {
        let lib = fill(LIB_TEMPLATE, "my-loss");
        assert!(
            lib.contains("pub struct MyLoss;")
                && lib.contains("const NAME: &'static str = \"my-loss\";")
        );
        let manifest = fill(MANIFEST_TEMPLATE, "my-loss");
        assert!(
            manifest.contains("name = \"ganbench_my_loss\""),
            "{manifest}"
        );
        assert!(!lib.contains("@NAME@") && !lib.contains("@TYPE@"));
    }
}
