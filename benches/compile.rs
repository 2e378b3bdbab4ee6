//! Compile time against stack size: the whole in-process pipeline (read, parse, validate, render,
//! policies, emit) on synthetic stacks of 10 to 5000 services, plus the two bundled stacks.
//! Run: `cargo bench --bench compile`. Whole-process figures (with process start, peak memory,
//! and `docker compose config` as the reference) come from scripts/bench.sh.

#[path = "../examples/gen_stack.rs"]
mod gen_stack;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fedgen::compile::{compile, Input};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn input(spec: PathBuf, env_file: Option<PathBuf>, dir: &std::path::Path) -> Input {
    Input {
        spec,
        env_file,
        templates: None,
        out: dir.join("docker-compose.yml"),
        process_env: BTreeMap::from([
            (
                "REGISTRY".to_string(),
                "registry.example.com/acme".to_string(),
            ),
            ("TAG".to_string(), "1.0.0".to_string()),
            ("JWT_SECRET".to_string(), "x".to_string()),
            ("POSTGRES_PASSWORD".to_string(), "x".to_string()),
        ]),
        target: None,
    }
}

fn synthetic(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("compile/synthetic");
    group.sample_size(20);
    for n in [10usize, 100, 1000, 5000] {
        let spec = dir.path().join(format!("stack-{n}.yml"));
        std::fs::write(&spec, gen_stack::generate(n)).unwrap();
        let inp = input(spec, None, dir.path());
        assert!(
            compile(&inp).output.is_some(),
            "the synthetic stack of {n} compiles"
        );
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &inp, |b, inp| {
            b.iter(|| compile(inp))
        });
    }
    group.finish();
}

fn bundled(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut group = c.benchmark_group("compile/bundled");
    for stack in ["federated-imputation", "document-platform"] {
        let inp = input(
            root.join(format!("stacks/{stack}.yml")),
            Some(root.join("env.example")),
            dir.path(),
        );
        assert!(compile(&inp).output.is_some());
        group.bench_with_input(BenchmarkId::from_parameter(stack), &inp, |b, inp| {
            b.iter(|| compile(inp))
        });
    }
    group.finish();
}

criterion_group!(benches, synthetic, bundled);
criterion_main!(benches);
