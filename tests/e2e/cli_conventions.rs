//! The conventions of a well-behaved command line: shell completions and man pages generated
//! from the argument definitions, `open` for a sweep's report, `run --out` for its folder.

use std::path::Path;

use crate::common::{ganbench, run, split};

/// The visible subcommands, as `ganbench --help` lists them.
fn subcommands() -> Vec<String> {
    let names = subcommands_of(&[]);
    for expected in ["run", "metrics", "open", "completions", "man"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    assert!(
        !names.iter().any(|n| n == "worker"),
        "internal subcommand listed"
    );
    names
}

/// The subcommands that `ganbench ARGS… --help` lists (`help` aside).
fn subcommands_of(args: &[&str]) -> Vec<String> {
    let mut args = args.to_vec();
    args.push("--help");
    let (code, help, stderr) = run(&args);
    assert_eq!(code, 0, "{stderr}");
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // A wrapped description continues on a more deeply indented line.
        .filter(|l| !l[2..].starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn completions_cover_every_subcommand_in_every_shell() {
    let names = subcommands();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, script, stderr) = run(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {stderr}");
        assert!(script.len() > 1000, "{shell}: {} bytes", script.len());
        for name in &names {
            assert!(script.contains(name.as_str()), "{shell}: no `{name}`");
        }
        // Options of a subcommand are completed too.
        assert!(
            script.contains("kid-subsets"),
            "{shell}: no metrics options"
        );
    }
    let (code, _, stderr) = run(&["completions", "tcsh"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("bash") && stderr.contains("zsh"),
        "{stderr}"
    );
}

#[test]
fn man_pages_exist_for_every_subcommand() {
    let (code, page, stderr) = run(&["man"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(page.contains(".TH ganbench 1"), "{page:.300}");
    let names = subcommands();
    for name in &names {
        assert!(page.contains(name.as_str()), "main page lacks {name}");
    }

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let (code, stdout, stderr) = run(&["man", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(out.to_str().unwrap()), "{stdout}");
    let read = |file: &str| {
        std::fs::read_to_string(out.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
    };
    assert!(read("ganbench.1").contains(".TH ganbench 1"));
    for name in &names {
        let sub = read(&format!("ganbench-{name}.1"));
        assert!(
            sub.contains(&format!(".TH ganbench-{name} 1")),
            "{name}: {sub:.200}"
        );
    }
    // Options appear in their subcommand's page.
    assert!(read("ganbench-metrics.1").contains("kid\\-subsets"));
    assert!(read("ganbench-run.1").contains("\\-\\-out"));
    // Nested subcommands (`plugin new`) get pages of their own.
    let nested: Vec<String> = names
        .iter()
        .flat_map(|name| {
            subcommands_of(&[name])
                .into_iter()
                .map(move |sub| format!("{name}-{sub}"))
        })
        .collect();
    assert!(nested.iter().any(|n| n == "plugin-new"), "{nested:?}");
    for name in &nested {
        assert!(read(&format!("ganbench-{name}.1")).contains(&format!(".TH ganbench-{name} 1")));
    }
    let pages = std::fs::read_dir(&out).unwrap().count();
    assert_eq!(
        pages,
        names.len() + nested.len() + 1,
        "one page per subcommand, nested ones included, and the main one"
    );
}

/// A small sweep run with `--out`, then `open` before and after `report` wrote the default page.
#[test]
fn run_out_writes_the_report_there_and_open_finds_the_default_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("small.ron"),
        r#"Sweep(name: "small", data: "ring8", steps: 10, eval_every: 5, eval_samples: 100, seeds: 1,
                 base: {"batch_size": 16, "hidden": 8}, variants: [(plugin: "gan")])"#,
    )
    .unwrap();
    let in_dir = |args: &[&str]| split(ganbench().current_dir(root).args(args).output().unwrap());
    let (code, stdout, stderr) = in_dir(&[
        "run",
        "small.ron",
        "--db",
        "db.sqlite",
        "--jobs",
        "1",
        "--out",
        "mine",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(root.join("mine/index.html").is_file(), "{stdout}");
    assert!(stdout.contains("report: mine/index.html"), "{stdout}");
    assert!(
        !root.join("reports").exists(),
        "nothing in the default folder"
    );
    let (code, _, stderr) = in_dir(&["run", "small.ron", "--no-report", "--out", "x"]);
    assert_eq!(code, 2, "{stderr}");

    // The default folder holds no report yet: open says how to write one.
    let (code, _, stderr) = in_dir(&["open", "small", "--db", "db.sqlite", "--print"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("reports/small/index.html") && stderr.contains("ganbench report small@1"),
        "{stderr}"
    );
    let (code, _, stderr) = in_dir(&["open", "nosuch", "--db", "db.sqlite"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no sweep `nosuch`"), "{stderr}");

    let (code, _, stderr) = in_dir(&["report", "small", "--db", "db.sqlite"]);
    assert_eq!(code, 0, "{stderr}");
    let index = std::fs::canonicalize(root.join("reports/small/index.html")).unwrap();
    let (code, stdout, stderr) = in_dir(&["open", "small", "--db", "db.sqlite", "--print"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        Path::new(stdout.trim()),
        std::fs::canonicalize(stdout.trim()).unwrap()
    );
    assert_eq!(std::fs::canonicalize(stdout.trim()).unwrap(), index);

    // An opener on PATH gets the page; without one the path is printed.
    let bin = root.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let log = root.join("opened.txt");
    let script = bin.join(opener);
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1\" > '{}'\n", log.display()),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&script, perms).unwrap();
    let open_with_path = |path: &Path| {
        split(
            ganbench()
                .current_dir(root)
                .env("PATH", path)
                .args(["open", "small", "--db", "db.sqlite"])
                .output()
                .unwrap(),
        )
    };
    let (code, stdout, stderr) = open_with_path(&bin);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("opened "), "{stdout}");
    let opened = std::fs::read_to_string(&log).unwrap();
    assert_eq!(std::fs::canonicalize(opened.trim()).unwrap(), index);
    let (code, stdout, stderr) = open_with_path(&root.join("empty"));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(&format!("no {opener}")), "{stderr}");
    assert_eq!(std::fs::canonicalize(stdout.trim()).unwrap(), index);
}
