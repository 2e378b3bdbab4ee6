//! Hostile and broken input: values that try to change the output's structure, YAML bombs, deep
//! nesting, huge and binary files, and property tests (a bounded fuzz) of every parser. None may
//! panic, hang or change the structure of what fedgen writes.
//!
//! The property tests run 256 cases each by default; a long run is
//! `PROPTEST_CASES=1000000 cargo test --release --test hostile never_panics` (see docs/reliability.md).

mod common;
use common::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// A `.env` value with template syntax, newlines, document markers and quotes reaches the
/// container as one string, and the compose file keeps its structure.
#[test]
fn env_values_cannot_change_the_structure_of_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("s.yml");
    std::fs::write(
        &spec,
        "name: inject\nservices:\n  web:\n    kind: http\n    image: shop/web:1.0\n    env:\n      GREETING: ${GREETING}\n      PLAIN: \"{{ http_url('web') }}\"\n",
    )
    .unwrap();
    let env = dir.path().join(".env");
    let nasty = "{{ 7*7 }} {% for x in y %}\\n---\\nservices: {evil: {image: x}}\\n'\\\" # tail";
    std::fs::write(&env, format!("GREETING=\"{nasty}\"\n")).unwrap();
    let out = fedgen()
        .args(["build"])
        .arg(&spec)
        .arg("--env")
        .arg(&env)
        .arg("--stdout")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let yaml = text(&out.stdout);
    let compose = fedgen::model::Compose::from_compose_yaml(&yaml).expect("the output reads back");
    assert_eq!(compose.services.len(), 1, "no service was injected");
    let got = &compose.services["web"].environment["GREETING"];
    assert_eq!(
        got,
        "{{ 7*7 }} {% for x in y %}\n---\nservices: {evil: {image: x}}\n'\" # tail"
    );
    // The spec's own template still renders: only the environment's text is kept literal.
    assert_eq!(
        compose.services["web"].environment["PLAIN"],
        "http://web:8000"
    );
}

#[test]
fn yaml_bombs_deep_nesting_huge_and_binary_files_are_refused_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bomb", b"name: x\na: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\nservices: {}\n".to_vec()),
        ("deep", format!("name: x\nservices: {}{}\n", "[".repeat(10_000), "]".repeat(10_000)).into_bytes()),
        ("deep-indent", (0..200).map(|i| format!("{}a{i}:\n", " ".repeat(i * 2))).collect::<String>().into_bytes()),
        ("huge", format!("name: x\n# {}\nservices: {{}}\n", "x".repeat(5 << 20)).into_bytes()),
        ("binary", b"name: x\x00\xff\xfe\nservices: {}\n".to_vec()),
        ("nul", b"name: x\nservices:\n  a: {kind: http, image: \"a:1\x00\"}\n".to_vec()),
    ];
    for (name, bytes) in cases {
        let spec = dir.path().join(format!("{name}.yml"));
        std::fs::write(&spec, &bytes).unwrap();
        let start = std::time::Instant::now();
        let out = fedgen()
            .args(["build"])
            .arg(&spec)
            .arg("--stdout")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}: {}", describe(&out));
        assert!(
            !text(&out.stderr).contains("panicked"),
            "{name}: {}",
            describe(&out)
        );
        assert!(
            start.elapsed().as_secs() < 5,
            "{name} took {:?}",
            start.elapsed()
        );
    }
}

fn lookup(name: &str) -> Option<String> {
    name.len().is_multiple_of(2).then(|| format!("v-{name}"))
}

proptest! {
    #[test]
    fn interpolation_never_panics(s in "\\PC*") {
        let _ = fedgen::compile::interpolate::interpolate(&s, &lookup);
    }

    #[test]
    fn interpolation_of_dollar_heavy_text_never_panics(s in "[$a-z{}:?+\\-_ ]{0,64}") {
        let _ = fedgen::compile::interpolate::interpolate(&s, &lookup);
    }

    #[test]
    fn the_spec_parser_never_panics(s in "(name|services|kind|image|uses|env|[a-z]{1,6}|:|-|\\[|\\]|\\{|\\}|,|\\n|  |\\$\\{[A-Z]{0,3}\\}|&|\\*|!|\"|')*") {
        let mut sources = fedgen::diag::Sources::default();
        let id = sources.add("p.yml", s);
        let mut diags = fedgen::diag::Diagnostics::default();
        let env = fedgen::compile::env::Env::from_maps(BTreeMap::new(), BTreeMap::new());
        let _ = fedgen::compile::spec::parse(id, &sources, &env, &mut diags);
    }

    #[test]
    fn the_env_file_reader_never_panics(s in "([A-Z_]{0,5}|=|\"|'|\\\\|\\$|\\{|\\}|#| |\\n|export )*") {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, s).unwrap();
        let mut sources = fedgen::diag::Sources::default();
        let mut diags = fedgen::diag::Diagnostics::default();
        let _ = fedgen::compile::env::Env::load(Some(&path), [], &mut sources, &mut diags);
    }

    #[test]
    fn the_compose_reader_never_panics(s in "(name|services|image|environment|networks|\\$\\$|\\$|:|-|\\[|\\]|\\{|\\}|\\n|  |[a-z0-9]{1,4})*") {
        let _ = fedgen::model::Compose::from_compose_yaml(&s);
    }
}
