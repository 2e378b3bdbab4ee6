//! Writes a synthetic stack spec of N services to stdout, for benchmarks and load tests:
//! `cargo run --release --example gen_stack -- 1000 > /tmp/stack-1000.yml`.
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

#[allow(dead_code)]
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    print!("{}", generate(n.max(3)));
}
