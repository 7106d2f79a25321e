//! Shell integration: completion scripts that a shell really loads and
//! completes with, manual pages that `man` renders, and help with examples.

use std::process::Command as Process;

use assert_cmd::Command;

fn recon() -> Command {
    Command::cargo_bin("recon").unwrap()
}

fn stdout_of(args: &[&str]) -> String {
    let out = recon().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "recon {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What bash offers for the words typed so far, through recon's script.
fn bash_completes(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let cword = words.len() - 1;
    let line = words.join(" ");
    let program = format!(
        "source {script} || exit 9\n\
         complete -p recon >/dev/null || exit 8\n\
         COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{line}'; COMP_POINT={point}\n\
         _recon recon '{cur}' '{prev}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script = script.display(),
        words = words.join(" "),
        point = line.len(),
        cur = words[cword],
        prev = words[cword.saturating_sub(1)],
    );
    let out = Process::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "bash: exit {:?}, {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completion_loads_and_completes_commands_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("recon.bash");
    std::fs::write(&script, stdout_of(&["completions", "bash"])).unwrap();
    assert_eq!(bash_completes(&script, &["recon", "d"]), ["diff"]);
    assert_eq!(bash_completes(&script, &["recon", "com"]), ["completions"]);
    let flags = bash_completes(&script, &["recon", "diff", "--ma"]);
    assert!(flags.contains(&"--map".to_string()), "{flags:?}");
    assert!(flags.contains(&"--mask".to_string()), "{flags:?}");
    assert!(flags.contains(&"--max-diffs".to_string()), "{flags:?}");
}

#[test]
fn every_shell_gets_a_script() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = stdout_of(&["completions", shell]);
        assert!(script.contains("diff"), "{shell}");
        assert!(script.contains("leaf-rows"), "{shell}");
    }
    let out = recon().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `man -l` of a page, as plain text.
fn man(page: &str) -> Option<String> {
    if Process::new("man").arg("--version").output().is_err() {
        eprintln!("notice: no man on this machine: manual page test skipped");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("recon.1");
    std::fs::write(&file, page).unwrap();
    let out = Process::new("man")
        .arg("-l")
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "man -l: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn manual_pages_render_with_man() {
    let Some(text) = man(&stdout_of(&["man"])) else {
        return;
    };
    for section in ["NAME", "SYNOPSIS", "SUBCOMMANDS", "VERSION"] {
        assert!(text.contains(section), "{section} missing:\n{text}");
    }
    assert!(text.contains("recon-diff"), "{text}");
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
    let diff = man(&stdout_of(&["man", "diff"])).unwrap();
    assert!(diff.contains("recon-diff"), "{diff}");
    assert!(diff.contains("--leaf-rows"), "{diff}");
    assert!(diff.contains("Examples:"), "{diff}");
    let out = recon().args(["man", "nosuch"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no command \"nosuch\""), "{err}");
}

#[test]
fn version_and_help_of_every_command_with_an_example() {
    assert_eq!(
        stdout_of(&["--version"]).trim(),
        format!("recon {}", env!("CARGO_PKG_VERSION"))
    );
    for command in [
        "diff",
        "repair",
        "check",
        "validate",
        "gen",
        "scan",
        "completions",
        "man",
    ] {
        let help = stdout_of(&[command, "--help"]);
        let examples = help
            .split("Examples:")
            .nth(1)
            .unwrap_or_else(|| panic!("recon {command} --help shows no example"));
        assert!(
            examples.contains(&format!("recon {command}")),
            "recon {command} --help: {examples}"
        );
    }
}
