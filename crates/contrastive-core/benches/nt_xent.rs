//! NT-Xent forward + backward time at N = 256 and 1024 pairs, d = 128, on the CPU backends.
//!
//! `cargo bench -p contrastive-core --bench nt_xent` (or `cargo xtask bench core`). Prints one
//! line per case: the median of the timed iterations after warm-up, and flex relative to
//! ndarray measured in the same run.

use std::time::Instant;

use burn::backend::{Autodiff, Flex, NdArray};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, Tensor};
use contrastive_core::loss::NtXentConfig;

const WARMUP: usize = 3;
const TIMED: usize = 15;
const DIM: usize = 128;

fn median_ms<B: AutodiffBackend>(n: usize) -> f64 {
    let device = Default::default();
    let loss = NtXentConfig::new().init().unwrap();
    let z1: Tensor<B, 2> = Tensor::random([n, DIM], Distribution::Normal(0.0, 1.0), &device);
    let z2: Tensor<B, 2> = Tensor::random([n, DIM], Distribution::Normal(0.0, 1.0), &device);
    let mut times = Vec::with_capacity(TIMED);
    for i in 0..WARMUP + TIMED {
        let (a, b) = (z1.clone().require_grad(), z2.clone().require_grad());
        let start = Instant::now();
        let out = loss.forward(a.clone(), b).unwrap();
        let grads = out.loss.backward();
        // Reading the gradient back synchronises the device before the clock is read.
        let _ = a.grad(&grads).unwrap().into_data();
        if i >= WARMUP {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort_by(f64::total_cmp);
    times[TIMED / 2]
}

fn main() {
    println!("NT-Xent forward+backward, d = {DIM}, median of {TIMED} after {WARMUP} warm-up");
    println!(
        "{:>6} {:>14} {:>14} {:>18}",
        "N", "ndarray ms", "flex ms", "flex / ndarray"
    );
    for n in [256, 1024] {
        let ndarray = median_ms::<Autodiff<NdArray>>(n);
        let flex = median_ms::<Autodiff<Flex>>(n);
        println!(
            "{n:>6} {ndarray:>14.2} {flex:>14.2} {:>18.2}",
            flex / ndarray
        );
    }
}
