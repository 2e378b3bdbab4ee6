//! Exit codes: the contract CI scripts rely on, in one place (README, docs/apply.md).

/// Success; with `build --check`, `diff` or `apply --dry-run`: nothing to change; with `lint`:
/// no finding at or above `--fail-on`.
pub const OK: i32 = 0;
/// Invalid input (spec, compose file, `.env`, templates), an I/O error, or an unreachable
/// engine: nothing was changed or written. `lint`: also a finding at or above `--fail-on`.
pub const INVALID: i32 = 1;
/// Changes pending (`build --check`, `diff`, `apply --dry-run`), as terraform's
/// `-detailed-exitcode`.
pub const CHANGES_PENDING: i32 = 2;
/// `apply`: a service did not become healthy (or a one-shot job did not exit 0) in time; the
/// rollout stopped and the report says what was and was not done.
pub const HEALTH_FAILED: i32 = 3;
/// `apply`: refused before changing anything (unmanaged conflicts, an emptying prune, a stale
/// saved plan, a pre-flight failure, a lock held past the timeout); `import`: a finding needs a
/// decision (containers disagree on a secret's value: `--secret-from`), nothing was written.
pub const REFUSED: i32 = 4;
/// `apply`: the engine failed during the rollout (the report says what was done).
pub const ENGINE_FAILED: i32 = 5;
/// Usage error (unknown flag, missing argument), as sysexits' EX_USAGE.
pub const USAGE: i32 = 64;
/// `apply` stopped by SIGINT or SIGTERM after the steps under way (128 + SIGINT, as shells say).
pub const INTERRUPTED: i32 = 130;
