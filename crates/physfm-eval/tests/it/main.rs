//! The integration tests of `physfm-eval`, in one test binary: each module was a binary of its own,
//! and every one of them linked burn and the rest of the workspace again (CI's build time and
//! disk space).

mod history;
mod metric_reference;
mod protocols;
mod shared_terms;
mod training_losses;
