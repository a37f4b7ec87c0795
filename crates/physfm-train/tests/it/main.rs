//! The integration tests of `physfm-train`, in one test binary: each module was a binary of its own,
//! and every one of them linked burn and the rest of the workspace again (CI's build time and
//! disk space).

#[path = "../common/mod.rs"]
mod common;

mod multi_physics;
mod resume;
mod tiny_training;
