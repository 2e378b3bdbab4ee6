//! `fedgen kinds`: the kinds reference, as a listing or as Markdown (docs/kinds.md).

use crate::compile::kinds::Kinds;
use crate::diag::{self, Diagnostics, Sources};
use crate::exit;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct KindsArgs {
    /// A directory of KIND.yml.j2 templates that override or add to the built-in ones.
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
    /// Print the reference as Markdown (docs/kinds.md is this output).
    #[arg(long)]
    markdown: bool,
}

pub fn run(args: &KindsArgs) -> i32 {
    let mut sources = Sources::default();
    let mut diags = Diagnostics::default();
    let kinds = Kinds::load(args.templates.as_deref(), &mut sources, &mut diags);
    if diags.has_errors() {
        eprint!("{}", diag::render_human(&diags.items, &sources));
        return exit::INVALID;
    }
    if args.markdown {
        print!("{}", kinds.markdown());
        return exit::OK;
    }
    for k in kinds.kinds.values() {
        let port = k
            .meta
            .port
            .map(|p| p.to_string())
            .unwrap_or_else(|| "-".into());
        println!("{:<12} port {:<5} {}", k.name, port, k.meta.doc);
        println!("{:<12} health: {}", "", k.meta.health);
        for (p, m) in &k.meta.params {
            println!("{:<12} {p}: {}", "", m.doc);
        }
    }
    exit::OK
}
