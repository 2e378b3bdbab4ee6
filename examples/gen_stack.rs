//! Writes a synthetic stack spec of N services to stdout, for benchmarks and load tests:
//! `cargo run --release --example gen_stack -- 1000 > /tmp/stack-1000.yml`.
//! `gen_stack N --standin IMAGE [--name P]`: N busybox httpd stand-ins (run on an engine without
//! a registry); `gen_stack --chains 4 5 --standin IMAGE`: 4 chains of 5 health-gated stand-ins
//! with a 1 s health interval (for apply, the floor is the chain of 5 health gates).
//! `gen_stack N --standin IMAGE`: the same shape with every service a busybox httpd stand-in
//! (runs on an engine without a registry); `gen_stack --chains 4 5 --standin IMAGE`: 4 chains of
//! 5 health-gated stand-ins with a 1 s health interval (the apply benchmark's floor is 5 gates).
//!
//! Shape: one postgres and one redis, then groups of ten http services: in each group nine
//! back-ends use the database, the cache and the previous back-end, and one gateway publishes a
//! port and uses the nine. Every reference is real, so the whole pipeline (validation, topology,
//! templates, policies) does its full work.

use std::fmt::Write;

pub fn generate(n: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "name: synthetic-{n}\ndefaults:\n  restart: unless-stopped\n  logging: {{ max_size: 10m, max_file: 3 }}\n\
         secrets:\n  jwt_secret: {{ env: JWT_SECRET }}\n  db_password: {{ env: POSTGRES_PASSWORD }}\n\
         services:\n  db:\n    kind: postgres\n    image: postgres:15.8-alpine\n    password_secret: db_password\n    databases: [app]\n\
         \x20 redis:\n    kind: redis\n    image: redis:7.2.5-alpine"
    );
    let mut made = 2;
    let mut group = 0;
    while made < n {
        let members = (n - made).min(10);
        let backends = members.saturating_sub(1).max(1).min(members);
        for i in 0..backends {
            let name = format!("svc-{group}-{i}");
            let prev = if i > 0 {
                format!(", svc-{group}-{}", i - 1)
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "  {name}:\n    kind: http\n    image: ${{REGISTRY}}/{name}:${{TAG}}\n    port: {}\n    uses: [db, redis{prev}]\n    secrets: [jwt_secret]\n    env:\n      DATABASE_URL: \"{{{{ postgres_url('db', 'app') }}}}\"\n      REDIS_URL: \"{{{{ redis_url('redis') }}}}\"\n      LOG_LEVEL: ${{LOG_LEVEL:-info}}",
                8000 + i
            );
        }
        made += backends;
        if members > backends {
            let uses: Vec<String> = (0..backends).map(|i| format!("svc-{group}-{i}")).collect();
            let _ = writeln!(
                s,
                "  gw-{group}:\n    kind: http\n    image: ${{REGISTRY}}/gateway:${{TAG}}\n    port: 8000\n    publish: {}\n    uses: [{}]\n    secrets: [jwt_secret]",
                20000 + group,
                uses.join(", ")
            );
            made += 1;
        }
        group += 1;
    }
    s
}

/// N busybox stand-ins in chains of ten (each uses the one before), on one shared network.
pub fn generate_standin(n: usize, image: &str, name: &str) -> String {
    let mut s = header(name);
    for i in 0..n {
        let uses = if i % 10 == 0 {
            String::new()
        } else {
            format!("\n    uses: [svc-{}]", i - 1)
        };
        let _ = writeln!(s, "  svc-{i}:\n    kind: http\n    image: {image}\n    port: 8000\n    command: [httpd, -f, -p, \"8000\", -h, /var/www]{uses}");
    }
    s
}

/// `chains` chains of `length` stand-ins, each waiting for the health of the one before.
pub fn generate_chains(chains: usize, length: usize, image: &str, name: &str) -> String {
    let mut s = header(name);
    for c in 0..chains {
        for l in 0..length {
            let uses = if l == 0 {
                String::new()
            } else {
                format!("\n    uses: [c{c}-s{}]", l - 1)
            };
            let _ = writeln!(s, "  c{c}-s{l}:\n    kind: http\n    image: {image}\n    port: 8000\n    command: [httpd, -f, -p, \"8000\", -h, /var/www]{uses}");
        }
    }
    s
}

fn header(name: &str) -> String {
    format!(
        "name: {name}\ndefaults:\n  restart: unless-stopped\n  logging: {{ max_size: 1m, max_file: 2 }}\n  healthcheck: {{ interval: 1s, timeout: 2s, retries: 30, start_period: 0s }}\n  memory: 32m\n  cpus: \"0.1\"\n  network_isolation: shared\nservices:\n"
    )
}

#[allow(dead_code)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| {
        args.iter()
            .position(|a| a == f)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let image = flag("--standin");
    let name = flag("--name").unwrap_or_else(|| "bench".into());
    if let Some(i) = args.iter().position(|a| a == "--chains") {
        let chains = args.get(i + 1).and_then(|a| a.parse().ok()).unwrap_or(4);
        let length = args.get(i + 2).and_then(|a| a.parse().ok()).unwrap_or(5);
        print!(
            "{}",
            generate_chains(
                chains,
                length,
                image.as_deref().unwrap_or("fedgen-test/busybox:1"),
                &name
            )
        );
        return;
    }
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100);
    match image {
        Some(img) => print!("{}", generate_standin(n.max(1), &img, &name)),
        None => print!("{}", generate(n.max(3))),
    }
}
