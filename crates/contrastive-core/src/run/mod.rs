//! The infrastructure of a training run, apart from the maths: burn-train's steps, metrics and
//! guards ([`train`]), epoch-aware data order ([`epochs`]) and per-item randomness
//! ([`item_rng`]), text files and tokenisation ([`text_file`], [`text`]), durable checkpoint
//! writes ([`atomic_save`]), the allocator setting ([`allocator`]) and benchmark timing
//! ([`bench`]).

pub mod allocator;
pub mod atomic_save;
pub mod bench;
pub mod epochs;
pub mod item_rng;
pub mod text;
pub mod text_file;
pub mod train;
