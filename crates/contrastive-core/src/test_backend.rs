//! The backend of this crate's unit tests.
//!
//! Burn 0.21 keys a device's default dtype by device, not by backend type, so `NdArray<f32>`
//! and `NdArray<f64>` in one test process would fight over the CPU device. Every unit test
//! here uses float64, which the finite-difference checks need anyway.

pub type TestBackend = burn::backend::NdArray<f64>;
pub type TestAutodiffBackend = burn::backend::Autodiff<TestBackend>;
