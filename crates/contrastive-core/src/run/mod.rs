//! The infrastructure of a training run, apart from the maths: burn-train's steps, metrics and
//! guards ([`train`]), epoch-aware data order ([`epochs`]), batches in that order
//! ([`ordered_loader`]) and per-item randomness ([`item_rng`]), text files, CSV records and
//! tokenisation ([`text_file`], [`csv_records`], [`text`]), durable checkpoint writes
//! ([`atomic_save`]), data-parallel replicas ([`replicas`]) and the seeded noise they share
//! ([`seeded_noise`]), the allocator setting ([`allocator`]) and benchmark timing ([`bench`]).

pub mod allocator;
pub mod atomic_save;
pub mod bench;
pub mod csv_records;
pub mod epochs;
pub mod item_rng;
pub mod ordered_loader;
pub mod replicas;
pub mod seeded_noise;
pub mod text;
pub mod text_file;
pub mod train;
