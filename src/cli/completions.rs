//! `fedgen completions bash|zsh|fish` and `fedgen man`: shell completions and man pages, made
//! from the same clap definitions that parse the command line (clap_complete, clap_mangen), so
//! they cannot drift from it.

use crate::exit;
use clap::CommandFactory;
use std::io::Write;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell: bash (`source <(fedgen completions bash)`), zsh (into a directory of $fpath
    /// as `_fedgen`), fish (into ~/.config/fish/completions/fedgen.fish).
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Write fedgen.1 and a page per command (fedgen-build.1, ...) into this directory instead
    /// of printing fedgen.1.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

pub fn completions(args: &CompletionsArgs) -> i32 {
    let mut cmd = super::Cli::command();
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "fedgen", &mut out);
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = std::io::stdout().write_all(&out);
    exit::OK
}

pub fn man(args: &ManArgs) -> i32 {
    let cmd = super::Cli::command();
    let Some(dir) = &args.out_dir else {
        let mut out = Vec::new();
        if let Err(e) = clap_mangen::Man::new(cmd).render(&mut out) {
            eprintln!("error: cannot render the man page: {e}");
            return exit::INVALID;
        }
        let _ = std::io::stdout().write_all(&out);
        return exit::OK;
    };
    let mut pages = vec![("fedgen.1".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands() {
        let name = format!("fedgen-{}", sub.get_name());
        let leaked: &'static str = Box::leak(name.clone().into_boxed_str());
        pages.push((format!("{name}.1"), sub.clone().name(leaked)));
    }
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("error: cannot create {}: {e}", dir.display());
        return exit::INVALID;
    }
    for (file, page) in pages {
        let mut out = Vec::new();
        let path = dir.join(&file);
        if let Err(e) = clap_mangen::Man::new(page)
            .render(&mut out)
            .and_then(|()| crate::compile::emit::write_atomic(&path, &out))
        {
            eprintln!("error: cannot write {}: {e}", path.display());
            return exit::INVALID;
        }
        eprintln!("wrote {}", path.display());
    }
    exit::OK
}
