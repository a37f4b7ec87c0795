//! The integration tests of `physfm-data`, in one test binary: each module was a binary of its own,
//! and every one of them linked burn and the rest of the workspace again (CI's build time and
//! disk space).

mod hdf5_readers;
mod metadata_props;
mod roundtrip;
mod store_features;
