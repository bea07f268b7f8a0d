#!/usr/bin/env bash
# The dependency audit, offline: Cargo.lock against the advisories committed in
# audit/advisories.toml and the yanked flags in cargo's local crates.io index
# cache (tests/it/dependency_audit.rs). cargo-audit/cargo-deny would need the
# RustSec database from GitHub, which this project's machines and CI cannot
# reach; audit/advisories.toml says how the list is kept current.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked --test it -- dependency_audit:: --nocapture
