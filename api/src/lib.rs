//! placeholder

pub mod embedded;
